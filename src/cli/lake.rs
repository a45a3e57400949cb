//! `tally lake pack`: gather closed months of extracts into packs, so returns over them read
//! a few files instead of thousands. `tally serve` packs each unit as it closes; this is for
//! catching up after downtime or a bulk load, and for packing a range on purpose.

use chrono::Utc;

use clap::Subcommand;

use super::{Outcome, print_json, thousands};
use crate::config::Settings;
use crate::domain::Period;
use crate::landing::lake::Lake;
use crate::landing::pack::{self, Packed};

/// `tally lake …`.
#[derive(Subcommand)]
pub enum LakeCommand {
    /// Gather the current extracts of each closed month (of a daily collection) or period
    /// (of any other) into one pack, so returns read a few files, not thousands. tally
    /// serve packs each as it closes and again when an amendment lands; this catches up
    /// after downtime or a bulk load. A pack only speeds reading: the extracts stay.
    Pack {
        /// Only this collection (default: every listed one).
        collection: Option<String>,
        /// Pack the months or periods inside this period, closed or not (default: every
        /// closed one since the collection has been owed).
        #[arg(long)]
        period: Option<String>,
        /// With --period: every month or period up to the end of this one.
        #[arg(long, requires = "period")]
        to: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `tally lake …` command.
pub async fn run(s: &Settings, command: LakeCommand) -> anyhow::Result<Outcome> {
    match command {
        LakeCommand::Pack {
            collection,
            period,
            to,
            json,
        } => {
            pack(
                s,
                collection.as_deref(),
                period.as_deref(),
                to.as_deref(),
                json,
            )
            .await
        }
    }
}

pub async fn pack(
    settings: &Settings,
    collection: Option<&str>,
    period: Option<&str>,
    to: Option<&str>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let parse = |p: &str| Period::parse(p).map_err(anyhow::Error::msg);
    let range = match (period, to) {
        (Some(p), to) => {
            let first = parse(p)?;
            let last = to.map(parse).transpose()?.unwrap_or(first);
            if last.end() <= first.first_day() {
                anyhow::bail!("--to {last} ends before --period {first} starts");
            }
            Some((first.first_day(), last.end()))
        }
        (None, _) => None,
    };
    let registry = super::open(settings).await?;
    let now = Utc::now();
    let collections = match collection {
        Some(slug) => vec![registry.require_listed(slug, now).await?],
        None => registry.licensed(now).await?,
    };
    let lake = Lake::new(settings.lake_dir());
    let mut work = Vec::new();
    for licensed in collections {
        let def = licensed.def;
        let units = match range {
            Some((from, end)) => pack::units_between(&def, from, end),
            None => {
                let from = licensed.effective_from;
                pack::closed_units(&def, from, now, false)
            }
        };
        work.extend(units.into_iter().map(|u| (def.clone(), u)));
    }
    let bar = indicatif::ProgressBar::new(work.len() as u64);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let store = registry.store().clone();
    let (mut done, mut failed): (Vec<Packed>, Vec<String>) = (Vec::new(), Vec::new());
    for (def, unit) in &work {
        bar.set_message(format!("{} {unit}", def.slug));
        for r in pack::pack_units(
            store.as_ref(),
            &lake,
            def,
            std::slice::from_ref(unit),
            now,
            pack::ROW_GROUP_ROWS,
        )
        .await
        {
            match r {
                Ok(p) => done.push(p),
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if json {
        print_json(&serde_json::json!({ "packed": done, "failed": failed }))?;
    } else {
        for p in &done {
            match p.number {
                Some(n) if p.members > 0 => println!(
                    "{} {}: packed {} extracts ({} rows) as pack {n}.",
                    p.collection,
                    p.unit,
                    thousands(p.members as f64),
                    thousands(p.rows as f64)
                ),
                None if p.members > 0 => println!(
                    "{} {}: up to date ({} extracts in its pack).",
                    p.collection,
                    p.unit,
                    thousands(p.members as f64)
                ),
                _ => println!("{} {}: nothing has landed.", p.collection, p.unit),
            }
        }
        if work.is_empty() {
            println!("Nothing to pack: no listed collection has a closed period yet.");
        }
        for f in &failed {
            eprintln!("error: {f}");
        }
    }
    Ok(if failed.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}
