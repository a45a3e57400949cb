//! `tally demo`: Tally's whole story on embedded defaults, over a deterministic synthetic
//! England. Providers' systems deliver extracts to real sources (a drop folder, an HTTP
//! service on loopback, SQLite databases) on an accelerated clock; the production
//! scheduler step pulls them and the scheduled builder makes the national returns, while
//! DAP lists the automated collections, retires the manual forms as derivable and refuses
//! creep. It ends with a summary, a token for each role, and the web pages.

mod clock;
mod estate;
mod feeds;
mod plans;
mod story;
mod timeline;
mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::cli::{Outcome, thousands};
use crate::config::Settings;
use crate::domain::{Period, RunStatus};
use crate::registry::Registry;
use crate::returns::build::Artifact;
use crate::store;
use crate::store::access::Role;

/// The definitions and queries the demo uses, embedded so that it runs from any folder.
const FILES: [(&str, &str); 12] = [
    (
        "collections/uec-sitrep-manual.toml",
        include_str!("../collections/uec-sitrep-manual.toml"),
    ),
    (
        "collections/kh03-manual.toml",
        include_str!("../collections/kh03-manual.toml"),
    ),
    (
        "collections/ward-bed-census.toml",
        include_str!("../collections/ward-bed-census.toml"),
    ),
    (
        "collections/care-home-capacity.toml",
        include_str!("../collections/care-home-capacity.toml"),
    ),
    (
        "collections/proposals/care-home-beds-return.toml",
        include_str!("../collections/proposals/care-home-beds-return.toml"),
    ),
    (
        "collections/proposals/discharge-readiness-survey.toml",
        include_str!("../collections/proposals/discharge-readiness-survey.toml"),
    ),
    (
        "queries/uec-daily-sitrep.sql",
        include_str!("../queries/uec-daily-sitrep.sql"),
    ),
    (
        "queries/uec-daily-sitrep.toml",
        include_str!("../queries/uec-daily-sitrep.toml"),
    ),
    (
        "queries/kh03-quarterly.sql",
        include_str!("../queries/kh03-quarterly.sql"),
    ),
    (
        "queries/kh03-quarterly.toml",
        include_str!("../queries/kh03-quarterly.toml"),
    ),
    (
        "queries/care-home-occupancy.sql",
        include_str!("../queries/care-home-occupancy.sql"),
    ),
    (
        "queries/care-home-occupancy.toml",
        include_str!("../queries/care-home-occupancy.toml"),
    ),
];

/// Marks a folder as the demo's own, so that re-running may replace it and nothing else.
const MARKER: &str = ".tally-demo";

/// What `tally demo` is asked to play.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub trusts: u32,
    pub care_homes: u32,
    pub seed: u64,
    /// Days the clock runs, from `start`.
    pub days: u32,
    /// The day DAP lists the automated collections.
    pub start: NaiveDate,
    /// Where to serve the pages afterwards; `None` to stop after the summary.
    pub serve: Option<std::net::SocketAddr>,
}

/// What the demo did, for its closing summary, `summary.json` and tests.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub from: NaiveDate,
    /// The demo's clock when it stopped: the pages show the world as at this moment.
    pub until: DateTime<Utc>,
    pub trusts: usize,
    pub care_homes: usize,
    /// Providers by how their system reaches Tally.
    pub sources: BTreeMap<String, usize>,
    /// Providers with each habit (late, down some days…).
    pub habits: BTreeMap<String, usize>,
    /// Runs in the ledger by status; uploads by hand among them.
    pub runs: BTreeMap<String, usize>,
    pub uploads: usize,
    /// Artifacts built by return: periods, and versions (more than periods after amendments).
    pub returns: BTreeMap<String, (usize, usize)>,
    /// The latest period of each return: its period, received and expected providers.
    pub completeness: BTreeMap<String, (String, usize, usize)>,
    pub build_failures: Vec<String>,
    pub decisions: story::Decisions,
    pub final_hours: f64,
    pub notes: Vec<String>,
    /// A trust and a care home whose pages have most to show.
    pub showcase: Vec<String>,
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
    std::fs::create_dir_all(out.join("queries"))?;
    std::fs::write(out.join(MARKER), "made by tally demo; safe to delete\n")?;
    for (name, text) in FILES {
        std::fs::write(out.join(name), text)?;
    }
    // So that every command can be pointed at the demo: `tally --config <out>/tally.toml …`.
    let abs = std::path::absolute(out)?;
    let quoted = |p: &Path| toml_string(&p.display().to_string());
    std::fs::write(
        out.join("tally.toml"),
        format!(
            "# Written by `tally demo`: use it with `tally --config {}/tally.toml <command>`.\n\
             data_dir = {}\nsources_file = {}\nqueries_dir = {}\n",
            out.display(),
            quoted(&abs),
            quoted(&abs.join("sources.toml")),
            quoted(&abs.join("queries")),
        ),
    )?;
    Ok(())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn stage(n: u32, text: &str) {
    println!("\n== {n}. {text}");
}

/// The settings the demo runs on: everything in its own folder.
fn demo_settings(base: &Settings, out: &Path) -> anyhow::Result<Settings> {
    let abs = std::path::absolute(out)?;
    Ok(Settings {
        data_dir: abs.clone(),
        database_url: format!("sqlite://{}", abs.join("tally.db").display()),
        sources_file: abs.join("sources.toml"),
        queries_dir: abs.join("queries"),
        ..base.clone()
    })
}

pub async fn run(base: &Settings, o: &Options) -> anyhow::Result<Outcome> {
    if o.days < 7 {
        bail!("--days must be at least 7, so that every part of the story has a day to happen");
    }
    let started = std::time::Instant::now();
    let settings = demo_settings(base, &o.out)?;
    let (summary, service) = play(&settings, o).await?;
    let registry = service.registry.clone();
    print_summary(&summary, &o.out);
    std::fs::write(
        o.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    println!("\nThe demo took {:.0} s.", started.elapsed().as_secs_f64());
    let tokens = issue_tokens(&registry, &summary).await?;
    println!("\nTokens for the pages and the API (sign in at /sign-in):");
    for (who, token) in &tokens {
        println!("  {who:<34} {token}");
    }
    let Some(bind) = o.serve else {
        println!(
            "\nLook around with, for example:\n  tally --config {0}/tally.toml burden\n  tally --config {0}/tally.toml returns show uec-daily-sitrep --period {1}\n  tally --config {0}/tally.toml runs --status late",
            o.out.display(),
            summary
                .completeness
                .get("uec-daily-sitrep")
                .map_or("", |c| c.0.as_str()),
        );
        return Ok(Outcome::Done);
    };
    serve(&settings, &service, summary.until, bind).await?;
    Ok(Outcome::Done)
}

/// Plays the story and returns what happened, with the service it was played on.
pub async fn play(
    settings: &Settings,
    o: &Options,
) -> anyhow::Result<(Summary, crate::service::Service)> {
    let tz = settings.timezone;
    prepare(&o.out)?;
    let registry = Arc::new(Registry::new(
        store::connect(&settings.database_url).await?,
        tz,
    ));

    stage(
        1,
        "A synthetic England: trusts with sites and wards, care homes, and each one's source system.",
    );
    let world = world::World::new(o.seed, o.trusts, o.care_homes);
    let csv = o.out.join("providers.csv");
    world::write_csv(&world.providers, &csv)?;
    let providers = crate::providers::read_csv(&csv).map_err(crate::domain::Problems)?;
    registry.store().import_providers(&providers).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let feeds = feeds::Feeds::create(&world, &o.out, port).await?;
    let _http = feeds::serve_http(&world, &feeds, tz, listener).await;
    let mut sources = BTreeMap::new();
    let mut habits = BTreeMap::new();
    for (feed, h) in world
        .trusts
        .iter()
        .map(|t| (t.feed, t.habits))
        .chain(world.homes.iter().map(|h| (h.feed, h.habits)))
    {
        *sources.entry(feed.name().to_owned()).or_insert(0) += 1;
        for what in h.describe() {
            *habits.entry(what.to_owned()).or_insert(0) += 1;
        }
    }
    println!(
        "{} trusts and {} care homes, in {}; sources: {}.",
        world.trusts.len(),
        world.homes.len(),
        csv.display(),
        sources
            .iter()
            .map(|(k, v)| format!("{v} by {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Habits: {}.",
        habits
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let start = timeline::local(tz, o.start, 8 * 60);
    let end = timeline::local(tz, o.start + chrono::Days::new(u64::from(o.days)), 13 * 60);
    let mut story = story::Story {
        registry: &registry,
        collections: o.out.join("collections"),
        timezone: tz,
        notes: Vec::new(),
    };
    let mut decisions = story::Decisions::default();
    stage(
        2,
        "Before Tally: the manual SitRep and KH03 forms are listed; their burden is the baseline.",
    );
    story.baseline(start, &mut decisions).await?;
    for n in &story.notes {
        println!("  {n}");
    }
    let said = story.notes.len();
    stage(
        3,
        "DAP lists the automated ward bed census and care-home capacity collections.",
    );
    story
        .list_automated(start + chrono::Duration::hours(2), &mut decisions)
        .await?;
    for n in &story.notes[said..] {
        println!("  {n}");
    }

    stage(
        4,
        &format!(
            "{} days on the timetable: extracts pulled, retried, late and amended; returns built after each deadline; DAP retires the manual forms and refuses creep.",
            o.days
        ),
    );
    // The service as `tally serve` assembles it, its scheduler and builder stepped here on
    // the demo's clock.
    let service = crate::service::Service::assemble(
        settings,
        registry.clone(),
        crate::service::Options {
            instance: "demo-scheduler".into(),
            concurrency: 4,
            per_host: 2,
            pace: crate::schedule::pull::Pace {
                timing: crate::schedule::pull::Timing::Fixed,
                ..Default::default()
            },
        },
    )?;
    let catalogue = service.catalogue.clone();
    let Some(builder) = service.builder.as_ref() else {
        anyhow::bail!(
            "the demo builds the returns in {}, which is not there",
            settings.queries_dir.display()
        );
    };
    let deliveries = timeline::deliveries(&world, tz, o.start, end);
    let clock = clock::Clock {
        world: &world,
        feeds: &feeds,
        registry: &registry,
        lake: service.runner.lake.clone(),
        runner: &service.runner,
        builder,
        timezone: tz,
    };
    let from = start + chrono::Duration::hours(3);
    let played = clock
        .play(
            &mut story,
            &mut decisions,
            &deliveries,
            clock::events(tz, o.start, o.days),
            from,
            end,
        )
        .await?;

    stage(5, "Where things stand.");
    let report = registry.burden(end).await?;
    crate::cli::print_burden(&report);
    let mut runs = BTreeMap::new();
    let all = registry
        .store()
        .runs(&crate::store::runs::RunFilter {
            limit: i64::MAX,
            ..Default::default()
        })
        .await?;
    for r in &all {
        *runs.entry(r.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let mut returns = BTreeMap::new();
    let mut completeness = BTreeMap::new();
    for def in catalogue.returns.values() {
        let built = crate::returns::build::built(&settings.returns_dir(), &def.name);
        let versions = built.iter().map(|(_, v)| v.len()).sum();
        returns.insert(def.name.clone(), (built.len(), versions));
        if let Some((period, _)) = built.iter().max_by_key(|(p, _)| p.first_day()) {
            completeness.insert(
                def.name.clone(),
                latest_completeness(settings, &def.name, period)?,
            );
        }
    }
    let summary = Summary {
        seed: o.seed,
        from: o.start,
        until: end,
        trusts: world.trusts.len(),
        care_homes: world.homes.len(),
        sources,
        habits,
        runs,
        uploads: played.uploads,
        returns,
        completeness,
        build_failures: played.build_failures,
        final_hours: report.total_hours,
        decisions,
        notes: story.notes,
        showcase: showcase(&world, &all, end),
    };
    Ok((summary, service))
}

/// A trust and a care home whose pages have most to show: the open ones whose recent runs
/// had the most happen to them (late, failed, rejected, uploaded by hand).
fn showcase(
    world: &world::World,
    runs: &[crate::store::runs::RunRow],
    until: DateTime<Utc>,
) -> Vec<String> {
    let mut score: BTreeMap<&str, u32> = BTreeMap::new();
    for r in runs {
        let days = if r.collection == feeds::HOMES { 45 } else { 10 };
        if r.started_at < until - chrono::Duration::days(days) {
            continue;
        }
        let by_hand = r.uploaded();
        let points = match r.status {
            _ if by_hand => 3,
            RunStatus::Late | RunStatus::Failed | RunStatus::Rejected => 1,
            _ => 0,
        };
        *score.entry(r.provider.as_str()).or_default() += points;
    }
    let best = |codes: &mut dyn Iterator<Item = &str>| {
        codes
            .filter(|c| world.provider(c).closed_on.is_none())
            .max_by_key(|c| (score.get(c).copied().unwrap_or(0), std::cmp::Reverse(*c)))
            .map(str::to_owned)
    };
    let trust = best(&mut world.trusts.iter().map(|t| t.code.as_str()));
    let home = best(&mut world.homes.iter().map(|h| h.code.as_str()));
    trust.into_iter().chain(home).collect()
}

fn latest_completeness(
    settings: &Settings,
    name: &str,
    period: &Period,
) -> anyhow::Result<(String, usize, usize)> {
    let a = Artifact::latest(&settings.returns_dir(), name, period)?
        .with_context(|| format!("{name} {period} was built but cannot be read"))?;
    let c = &a.manifest.completeness;
    let received = c.inputs.iter().map(|i| i.received).sum();
    let expected = c.inputs.iter().map(|i| i.expected).sum();
    Ok((period.to_string(), received, expected))
}

fn print_summary(s: &Summary, out: &Path) {
    let d = &s.decisions;
    println!("\n== Summary");
    println!(
        "{} trusts and {} care homes, played from {} to {} (seed {}).",
        s.trusts,
        s.care_homes,
        s.from,
        s.until.format("%Y-%m-%d %H:%M UTC"),
        s.seed
    );
    let count = |k: RunStatus| s.runs.get(k.as_str()).copied().unwrap_or(0);
    println!(
        "Runs: {} landed, {} late, {} amended, {} rejected, {} failed and retried, {} refused; {} of them uploads by hand.",
        thousands(count(RunStatus::Landed) as f64),
        thousands(count(RunStatus::Late) as f64),
        thousands(count(RunStatus::Amended) as f64),
        thousands(count(RunStatus::Rejected) as f64),
        thousands(count(RunStatus::Failed) as f64),
        thousands(count(RunStatus::Refused) as f64),
        thousands(s.uploads as f64),
    );
    for (name, (periods, versions)) in &s.returns {
        let c = s.completeness.get(name);
        println!(
            "Return {name}: {periods} period{} built ({versions} version{}){}.",
            if *periods == 1 { "" } else { "s" },
            if *versions == 1 { "" } else { "s" },
            c.map_or(String::new(), |(p, r, e)| format!(
                "; latest {p}: {r} of {e} providers sent everything they owed for it"
            ))
        );
    }
    for f in &s.build_failures {
        println!("Build failed: {f}");
    }
    println!(
        "Estimated burden: {} staff hours a year at the baseline, {} now ({:.0}% less); DAP's goal is {} by {}.",
        thousands(d.baseline_hours),
        thousands(s.final_hours),
        100.0 * (1.0 - s.final_hours / d.baseline_hours),
        thousands(d.goal_hours),
        d.target_date.map(|t| t.to_string()).unwrap_or_default(),
    );
    println!("Listed: {}.", d.listed.join(", "));
    println!("Retired as derivable: {}.", d.retired.join(", "));
    for (slug, rules, _) in &d.refused {
        println!(
            "Refused {slug}: blocked by the {} rule{}.",
            rules.join(" and "),
            if rules.len() == 1 { "" } else { "s" }
        );
    }
    println!(
        "Everything is in {}; summary.json has these figures.",
        out.display()
    );
}

/// A token for each role, so the pages can be tried at once: DAP, DHSC, an admin, and two
/// providers with something to show (a trust with habits, and a care home).
async fn issue_tokens(registry: &Registry, s: &Summary) -> anyhow::Result<Vec<(String, String)>> {
    let store = registry.store();
    let providers = store.providers().await?;
    let now = Utc::now();
    let trust = providers
        .iter()
        .find(|p| {
            p.kind == crate::domain::provider::ProviderKind::AcuteTrust && p.closed_on.is_none()
        })
        .map(|p| p.code.as_str().to_owned());
    let home = providers
        .iter()
        .find(|p| p.kind == crate::domain::provider::ProviderKind::CareHome)
        .map(|p| p.code.as_str().to_owned());
    // The trusts and homes worth a look: ones with habits, whose pages have more to show.
    let trust = s.showcase.first().cloned().or(trust);
    let home = s.showcase.get(1).cloned().or(home);
    let mut wanted = vec![
        (Role::Dap, Vec::new(), "DAP board (demo)".to_owned()),
        (Role::Dhsc, Vec::new(), "DHSC analyst (demo)".to_owned()),
        (Role::Admin, Vec::new(), "Administrator (demo)".to_owned()),
    ];
    for code in [trust, home].into_iter().flatten() {
        wanted.push((
            Role::Provider,
            vec![code.clone()],
            format!("{code} staff (demo)"),
        ));
    }
    let mut out = Vec::new();
    for (role, codes, name) in wanted {
        let (row, token) = crate::web::auth::issue(role, &codes, &name, "tally demo", None, now)?;
        store.add_token(&row).await?;
        let who = match codes.first() {
            Some(c) => format!("provider {c}"),
            None => role.to_string(),
        };
        out.push((who, token));
    }
    Ok(out)
}

/// Serves the pages over the demo's register, as at the moment its clock stopped, until
/// Ctrl-C. The scheduler does not run: the demo's sources have stopped with its clock.
async fn serve(
    settings: &Settings,
    service: &crate::service::Service,
    until: DateTime<Utc>,
    bind: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}; choose another address with --bind"))?;
    let bound = listener.local_addr()?;
    println!(
        "\nTally is serving the demo at http://{bound}/ as at {} (Ctrl-C to stop).",
        until
            .with_timezone(&settings.timezone)
            .format("%e %b %Y %H:%M")
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    service
        .serve_pages(listener, crate::web::serve::IDLE, Some(until), stopped)
        .await
}
