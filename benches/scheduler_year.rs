//! The scheduler at England's scale: a simulated year of the production scheduler's steps
//! (`Runner::step`, as `tally serve` calls it) over a register that `benches/run-scheduler`
//! has made: 190 trusts owing the daily ward bed census and the care homes owing monthly
//! capacity, 20,000 obligations in all, each delivering through a drop folder. Not part of
//! the product.
//!
//! The clock moves in steps (an hour by default) through a year that holds both clock
//! changes; at each step the extracts whose periods have ended are dropped, then the step
//! pulls what is due and lands it, as in production. Each step's time, pulls and resident
//! memory go to `steps.csv` in the data folder. At the end the ledger is read back and
//! compared with the periods owed, worked out here from the definitions' own words (the
//! census pulled at 09:00 London time for the day before, capacity at 06:00 on the 1st for
//! the month before), not from the scheduler's code: none may be missed, none pulled
//! twice.
//!
//! `cargo run --release --features benches --bin scheduler-year -- --from 2027-01-01 --days 365`, with
//! `TALLY_DATA_DIR`, `TALLY_DATABASE_URL` and `TALLY_SOURCES` naming what the script made.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;

use tally::domain::provider::ProviderKind;
use tally::domain::{Period, PeriodKind, RunStatus};
use tally::schedule::pull::{Pace, Timing};
use tally::store::runs::RunFilter;

const CENSUS: &str = "ward-bed-census";
const HOMES: &str = "care-home-capacity";

struct Args {
    from: NaiveDate,
    days: i64,
    step_minutes: i64,
    concurrency: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        from: NaiveDate::from_ymd_opt(2027, 1, 1).expect("a date"),
        days: 365,
        step_minutes: 60,
        concurrency: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--from" => a.from = value.parse()?,
            "--days" => a.days = value.parse()?,
            "--step-minutes" => a.step_minutes = value.parse()?,
            "--concurrency" => a.concurrency = value.parse()?,
            _ => bail!("unknown option {flag}"),
        }
    }
    Ok(a)
}

/// London's wall clock at `time` on `day`, the first instant of it when the hour repeats.
fn london(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    London
        .from_local_datetime(&day.and_time(time))
        .earliest()
        .expect("09:00 and 06:00 exist on every day in London")
        .with_timezone(&Utc)
}

/// The first month owed from `from`: a licence is not retrospective, so a month that began
/// before it is not asked for.
fn first_month(from: NaiveDate) -> Period {
    let month = Period::containing(PeriodKind::Month, from);
    if month.first_day() < from {
        month.next()
    } else {
        month
    }
}

/// The pages resident now, in MB.
fn resident_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Writes one period's extract for each provider into the collection's drop folder, as
/// each provider's system would once the period has ended.
fn drop_extracts(
    folder: &std::path::Path,
    codes: &[String],
    period: Period,
    row: impl Fn(usize, &str) -> String,
    header: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)?;
    for (i, code) in codes.iter().enumerate() {
        let path = folder.join(format!("{code}_{period}.csv"));
        let tmp = folder.join(format!(".incoming-{code}_{period}.csv"));
        std::fs::write(&tmp, format!("{header}\n{}\n", row(i, code)))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let settings = tally::config::Settings::load(None, |k| std::env::var(k).ok())?;
    let registry = Arc::new(tally::cli::open_existing(&settings).await?);
    let service = tally::service::Service::assemble(
        &settings,
        registry.clone(),
        tally::service::Options {
            instance: "bench-scheduler".into(),
            concurrency: a.concurrency,
            per_host: 2,
            pace: Pace {
                timing: Timing::Fixed,
                ..Default::default()
            },
        },
    )?;
    let runner = service.runner;
    let providers = registry.store().providers().await?;
    let trusts: Vec<String> = providers
        .iter()
        .filter(|p| p.kind == ProviderKind::AcuteTrust)
        .map(|p| p.code.as_str().to_owned())
        .collect();
    let homes: Vec<String> = providers
        .iter()
        .filter(|p| p.kind == ProviderKind::CareHome)
        .map(|p| p.code.as_str().to_owned())
        .collect();
    let drop = settings.data_dir.join("drop");
    let start = london(a.from, NaiveTime::MIN);
    let end = london(a.from + Duration::days(a.days), NaiveTime::MIN);
    println!(
        "{} trusts owe the daily census and {} care homes monthly capacity: {} obligations; \
         {} days from {} in steps of {} minutes, {} pulls at once.",
        trusts.len(),
        homes.len(),
        trusts.len() + homes.len(),
        a.days,
        a.from,
        a.step_minutes,
        a.concurrency
    );

    let mut log =
        std::io::BufWriter::new(std::fs::File::create(settings.data_dir.join("steps.csv"))?);
    writeln!(
        log,
        "at,pulled,landed,failed,skipped,milliseconds,resident_mb"
    )?;
    let (mut next_day, mut next_month) = (a.from, first_month(a.from));
    let (mut idle, mut busy): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut peak_mb: f64 = 0.0;
    let mut slowest: (f64, DateTime<Utc>) = (0.0, start);
    let wall = std::time::Instant::now();
    let mut t = start;
    while t <= end {
        // Every period that has ended by now has its extract waiting at the source.
        while london(next_day + Duration::days(1), NaiveTime::MIN) <= t {
            let day = next_day;
            drop_extracts(
                &drop.join(CENSUS),
                &trusts,
                Period::Day(day),
                |i, code| {
                    format!(
                        "{day},{}1,W1,general_acute,overnight,adult,core,general,{},{}",
                        code.replace('-', "")[..4].to_owned(),
                        20 + i % 5,
                        15 + i % 3
                    )
                },
                "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds",
            )?;
            next_day += Duration::days(1);
        }
        while london(next_month.end(), NaiveTime::MIN) <= t {
            let last = next_month.end() - Duration::days(1);
            drop_extracts(
                &drop.join(HOMES),
                &homes,
                next_month,
                |i, _| format!("{last},{},{},1,{}", 40, 30 + i % 5, 9 - i % 5),
                "snapshot_date,max_capacity,occupied_beds,vacant_reserved,vacant_accepting",
            )?;
            next_month = next_month.next();
        }
        let began = std::time::Instant::now();
        let pulled = runner.step(t).await?;
        let ms = began.elapsed().as_secs_f64() * 1000.0;
        let mb = resident_mb();
        peak_mb = peak_mb.max(mb);
        let count = |f: &dyn Fn(&tally::schedule::pull::Pulled) -> bool| {
            pulled.iter().filter(|p| f(p)).count()
        };
        let landed = count(&|p| p.status.landed());
        let skipped = count(&|p| p.status == tally::domain::PullStatus::Skipped);
        let failed = pulled.len() - landed - skipped;
        for p in &pulled {
            *outcomes.entry(p.status.to_string()).or_default() += 1;
        }
        writeln!(
            log,
            "{},{},{landed},{failed},{skipped},{ms:.1},{mb:.1}",
            t.to_rfc3339(),
            pulled.len()
        )?;
        if pulled.is_empty() {
            idle.push(ms);
        } else {
            busy.push(ms);
        }
        if ms > slowest.0 {
            slowest = (ms, t);
        }
        t += Duration::minutes(a.step_minutes);
    }
    log.flush()?;
    let wall = wall.elapsed().as_secs_f64();

    // What was owed, from the definitions' words: a day is pulled at 09:00 the next day, a
    // month at 06:00 on the 1st of the next, London time; owed from the listing's first day.
    let mut owed: HashMap<(String, String, String), usize> = HashMap::new();
    let mut day = a.from;
    while london(
        day + Duration::days(1),
        NaiveTime::from_hms_opt(9, 0, 0).expect("09:00"),
    ) <= end
    {
        for c in &trusts {
            owed.insert((CENSUS.into(), c.clone(), day.to_string()), 0);
        }
        day += Duration::days(1);
    }
    let mut month = first_month(a.from);
    while london(
        month.end(),
        NaiveTime::from_hms_opt(6, 0, 0).expect("06:00"),
    ) <= end
    {
        for c in &homes {
            owed.insert((HOMES.into(), c.clone(), month.to_string()), 0);
        }
        month = month.next();
    }
    let runs = registry
        .store()
        .runs(&RunFilter {
            limit: i64::MAX,
            ..RunFilter::default()
        })
        .await?;
    let (mut unowed, mut not_landed) = (0usize, 0usize);
    for r in &runs {
        let landing = matches!(
            r.status,
            RunStatus::Landed | RunStatus::Late | RunStatus::Amended
        );
        if !landing {
            not_landed += 1;
            continue;
        }
        match owed.get_mut(&(r.collection.clone(), r.provider.clone(), r.period.clone())) {
            Some(n) => *n += 1,
            None => unowed += 1,
        }
    }
    let missed = owed.values().filter(|n| **n == 0).count();
    let doubled = owed.values().filter(|n| **n > 1).count();

    idle.sort_by(f64::total_cmp);
    busy.sort_by(f64::total_cmp);
    println!();
    println!("| steps | count | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [("nothing due", &idle), ("pulling", &busy)] {
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0.0)
        );
    }
    println!();
    println!(
        "The slowest step, at {}, took {:.1} s; peak resident memory {peak_mb:.0} MB; \
         the {} days took {wall:.0} s ({:.0} pulls a second).",
        slowest
            .1
            .with_timezone(&London)
            .format("%-d %B %Y %H:%M %Z"),
        slowest.0 / 1000.0,
        a.days,
        runs.len() as f64 / wall
    );
    println!("Pulls by outcome: {outcomes:?}.");
    println!(
        "Owed {}: missed {missed}, pulled twice {doubled}, landed but not owed {unowed}; \
         {not_landed} runs did not land. Each step is in {}.",
        owed.len(),
        settings.data_dir.join("steps.csv").display()
    );
    if missed > 0 || doubled > 0 || unowed > 0 {
        bail!("the scheduler missed or doubled periods: see above");
    }
    Ok(())
}
