//! `tally demo`: Tally's whole story on embedded defaults, over a deterministic synthetic
//! England. Providers' systems deliver extracts to real sources (a drop folder, an HTTP
//! service on loopback, SQLite databases) on an accelerated clock; the production
//! scheduler step pulls them and the scheduled builder makes the national returns, while
//! DAP lists the automated collections, retires the manual forms as derivable and refuses
//! creep. It ends with a summary, a token for each role, and the web pages.

mod clock;
mod coming;
mod estate;
mod feeds;
mod plans;
mod signoffs;
mod story;
mod summary;
mod timeline;
mod world;

pub use summary::Summary;
use summary::{print_summary, returns_built, showcase};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::cli::Outcome;
use crate::config::Settings;
use crate::registry::Registry;
use crate::store;
use crate::store::access::Role;

/// The definitions and queries the demo uses, embedded so that it runs from any folder.
const FILES: [(&str, &str); 13] = [
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
        "collections/proposals/virtual-ward-capacity.toml",
        include_str!("../collections/proposals/virtual-ward-capacity.toml"),
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

/// `tally demo`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's data (replaced if it holds an earlier demo).
    #[arg(long, default_value = "data/demo")]
    out: PathBuf,
    /// Trusts in the synthetic world (about three in four acute, the rest mental health).
    #[arg(long, default_value_t = 190)]
    trusts: u32,
    /// Care homes in the synthetic world (15000 for England's scale).
    #[arg(long, default_value_t = 2000)]
    care_homes: u32,
    /// Seed for the synthetic world: the same seed gives the same returns, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days the accelerated clock runs (at least 7).
    #[arg(long, default_value_t = 120)]
    days: u32,
    /// The day the automated collections are first owed and the clock starts; DAP lists
    /// them with the notice their definitions promise, 56 days before.
    #[arg(long, default_value = "2026-07-01")]
    start: NaiveDate,
    /// Address to serve the pages on afterwards.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Stop after the summary instead of serving the pages.
    #[arg(long)]
    no_serve: bool,
}

impl From<DemoArgs> for Options {
    fn from(a: DemoArgs) -> Options {
        Options {
            out: a.out,
            trusts: a.trusts,
            care_homes: a.care_homes,
            seed: a.seed,
            days: a.days,
            start: a.start,
            serve: (!a.no_serve).then_some(a.bind),
        }
    }
}

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
             data_dir = {}\nsources_file = {}\nqueries_dir = {}\n{DEMO_RATES}",
            out.display(),
            quoted(&abs),
            quoted(&abs.join("sources.toml")),
            quoted(&abs.join("queries")),
        ),
    )?;
    Ok(())
}

/// The demo's staff rates, in its `tally.toml`: made up for the demo, and said to be.
const DEMO_RATES: &str = "staff_rates_source = \"Illustrative rates made up for the demo, not official figures: set staff_rates from your own pay scales\"\n\
[staff_rates]\nbed_manager = 30.0\ninformation_analyst = 25.0\ncare_home_manager = 22.0\ndefault = 20.0\n";

/// The demo's staff rates, as its settings hold them.
fn demo_rates() -> anyhow::Result<crate::domain::budget::StaffRates> {
    #[derive(serde::Deserialize)]
    struct Rates {
        staff_rates_source: String,
        staff_rates: std::collections::BTreeMap<String, f64>,
    }
    let r: Rates = toml::from_str(DEMO_RATES)?;
    Ok(crate::domain::budget::StaffRates {
        source: r.staff_rates_source,
        per_hour: r.staff_rates,
    })
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
        // The demo records its mail to a folder instead of sending it.
        mail: crate::config::Mail {
            smtp_url: None,
            dir: Some(abs.join("mail")),
            from: base.mail.from.clone(),
        },
        staff_rates: Some(demo_rates()?),
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
    let start = timeline::local(tz, o.start, 8 * 60);
    // DAP lists the automated collections with the notice their definitions promise, so
    // that they are owed from the day the clock starts.
    let notice = chrono::Days::new(u64::from(crate::domain::definition::DEFAULT_NOTICE_DAYS));
    let listing = timeline::local(tz, o.start - notice, 8 * 60);
    // The register of providers is there before the baseline is listed.
    registry
        .store()
        .import_providers(&providers, listing - chrono::Duration::hours(1))
        .await?;
    // Each provider's returns team, told of new collections, deadlines and rejections; the
    // demo records the messages to its mail folder.
    for (code, addresses) in
        crate::providers::read_contacts(&csv).map_err(crate::domain::Problems)?
    {
        registry.store().set_contacts(&code, &addresses).await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let feeds = feeds::Feeds::create(&world, &o.out, port).await?;
    let _http = feeds::serve_http(&world, &feeds, tz, listener).await;
    let (sources, habits) = world.sources_and_habits();
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

    let end = timeline::local(tz, o.start + chrono::Days::new(u64::from(o.days)), 13 * 60);
    let mut story = story::Story {
        registry: &registry,
        collections: o.out.join("collections"),
        timezone: tz,
        notes: Vec::new(),
    };
    let mut decisions = story::Decisions::default();
    before_tally(&mut story, &mut decisions, listing, o.start).await?;
    let signing = signoffs::give(
        &registry,
        &world,
        o.start,
        start + chrono::Duration::hours(1),
    )
    .await?;

    stage(
        4,
        &format!(
            "{} days on the timetable: extracts pulled, retried, late and amended; returns built after each deadline; DAP retires the manual forms and refuses creep.",
            o.days
        ),
    );
    let service = assemble(settings, registry.clone())?;
    let catalogue = service.catalogue.clone();
    let said = story.notes.len();
    story
        .license_returns(&catalogue, start + chrono::Duration::hours(2))
        .await?;
    for n in &story.notes[said..] {
        println!("  {n}");
    }
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
        notifier: &service.notifier,
        timezone: tz,
        signers: &signing.each,
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
    crate::cli::print_burden(&report, settings.staff_rates.as_ref());
    let all = registry
        .store()
        .runs(&crate::store::runs::RunFilter {
            limit: i64::MAX,
            ..Default::default()
        })
        .await?;
    let mut runs = BTreeMap::new();
    for r in &all {
        *runs.entry(r.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let (returns, completeness) = returns_built(settings, &catalogue)?;
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
        mail: played
            .mail
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        final_hours: report.total_hours,
        final_pounds: crate::registry::report::price(
            &report.collections,
            settings.staff_rates.as_ref(),
        )
        .1,
        causes: {
            let budget = registry.store().budget().await?;
            let records = registry.burden_records().await?;
            let today = end.with_timezone(&tz).date_naive();
            let from = crate::registry::report::causes_from(&records, budget.as_ref(), today);
            crate::registry::causes::attribute(&records, from, end)
        },
        held: summary::held(registry.store().as_ref()).await?,
        signoff: signoffs::standing(&registry, signing.each.len(), played.signed).await?,
        achieved: registry
            .achieved(
                o.start,
                end.with_timezone(&tz).date_naive(),
                end,
                settings.staff_rates.as_ref(),
            )
            .await?,
        decisions,
        notes: story.notes,
        showcase: showcase(&world, &all, end),
    };
    Ok((summary, service))
}

/// Stages 2 and 3: the manual forms listed as the baseline at `start`, then DAP lists the
/// automated collections two hours later, owed from `owed_from`.
async fn before_tally(
    story: &mut story::Story<'_>,
    decisions: &mut story::Decisions,
    start: DateTime<Utc>,
    owed_from: NaiveDate,
) -> anyhow::Result<()> {
    stage(
        2,
        "Before Tally: the manual SitRep and KH03 forms are listed; their burden is the baseline.",
    );
    story.baseline(start, decisions).await?;
    for n in &story.notes {
        println!("  {n}");
    }
    let said = story.notes.len();
    stage(
        3,
        "DAP lists the automated ward bed census and care-home capacity collections, giving providers notice.",
    );
    story
        .list_automated(start + chrono::Duration::hours(2), owed_from, decisions)
        .await?;
    for n in &story.notes[said..] {
        println!("  {n}");
    }
    Ok(())
}

/// The service as `tally serve` assembles it, its scheduler and builder stepped on the
/// demo's clock rather than the wall clock.
fn assemble(
    settings: &Settings,
    registry: Arc<Registry>,
) -> anyhow::Result<crate::service::Service> {
    crate::service::Service::assemble(
        settings,
        registry,
        crate::service::Options {
            instance: "demo-scheduler".into(),
            concurrency: 4,
            per_host: 2,
            pace: crate::schedule::pull::Pace {
                timing: crate::schedule::pull::Timing::Fixed,
                ..Default::default()
            },
        },
    )
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
    // The integrated care system of the first showcase trust, which reads its ICB's rows.
    let icb = trust.as_ref().and_then(|t| {
        providers
            .iter()
            .find(|p| p.code.as_str() == t)
            .and_then(|p| p.icb.clone())
    });
    for code in [trust, home].into_iter().flatten() {
        wanted.push((
            Role::Provider,
            vec![code.clone()],
            format!("{code} staff (demo)"),
        ));
    }
    if let Some(icb) = icb {
        wanted.push((Role::Ics, vec![icb.clone()], format!("{icb} (demo)")));
    }
    let mut out = Vec::new();
    for (role, codes, name) in wanted {
        let (row, token) = crate::web::auth::issue(role, &codes, &name, "tally demo", None, now)?;
        store.add_token(&row).await?;
        let who = match (role, codes.first()) {
            (Role::Ics, Some(icb)) => format!("ics {icb}"),
            (_, Some(c)) => format!("provider {c}"),
            (_, None) => role.to_string(),
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
