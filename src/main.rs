//! The `tally` command. Each arm calls one function in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use tally::cli::{self, Outcome};
use tally::config::Settings;
use tally::domain::RegistryError;
use tally::registry::governance::StatusChange;
use tally::registry::views::BudgetChange;

/// Tally: central health and care data collections, pulled on a timetable, with a register
/// that blocks collection creep.
#[derive(Parser)]
#[command(name = "tally", version, propagate_version = true)]
struct Cli {
    /// Settings file (default: tally.toml in this folder, if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play Tally's whole story on embedded defaults: a synthetic England whose providers'
    /// systems deliver on an accelerated clock, pulls and returns, DAP's decisions, burden
    /// falling; then a summary, tokens and the web pages.
    Demo {
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
        /// The day DAP lists the automated collections and the clock starts.
        #[arg(long, default_value = "2026-07-01")]
        start: chrono::NaiveDate,
        /// Address to serve the pages on afterwards.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Stop after the summary instead of serving the pages.
        #[arg(long)]
        no_serve: bool,
    },
    /// Check, propose and decide on collections.
    #[command(subcommand)]
    Collections(Collections),
    /// Print the public register: licences, status, burden, reasons and overrides.
    Register(Json),
    /// Estimated burden: per collection, total, against DAP's cap and target.
    Burden {
        #[command(subcommand)]
        set: Option<BurdenCommand>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The organisations that must report.
    #[command(subcommand)]
    Providers(Providers),
    /// Serve the web pages and the API, and run the scheduler: pull every due period from
    /// its source, once a minute (`--step-seconds`), until stopped.
    Serve(cli::ServeArgs),
    /// The national returns: list, build, show and export.
    #[command(subcommand)]
    Returns(ReturnsCommand),
    /// Tokens for the web pages and the API: create, list, revoke.
    #[command(subcommand)]
    Token(cli::tokens::TokenCommand),
    /// DAP's exceptions to the window a period may be sent in by hand: grant, list.
    #[command(subcommand)]
    Exceptions(cli::exceptions::ExceptionsCommand),
    /// The lake's packs: closed months of extracts gathered into one file each.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Pull one period now from the provider's source, land it and record the run.
    Pull {
        /// The collection's slug.
        collection: String,
        /// The provider's code.
        #[arg(long)]
        provider: String,
        /// The period: 2026-11-24, 2026-W48, 2026-11, 2026-27-Q1 or 2026-27.
        #[arg(long)]
        period: String,
        /// Pull it again even if it has landed: the new extract becomes the next version.
        #[arg(long)]
        again: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Land a file handed over by hand (CSV or a spreadsheet's first sheet) for one period:
    /// the same checks and report as a pull, and the next version of the period.
    Upload(cli::UploadArgs),
    /// The run ledger: each attempt to pull a period, newest first.
    Runs {
        /// Only this collection.
        #[arg(long)]
        collection: Option<String>,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Only this status.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(tally::domain::RunStatus::ALL.iter().map(|s| s.as_str())))]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print the validation report one run saved (its counts per check and the first
        /// rows that broke each) instead of the list.
        #[arg(long, value_name = "RUN")]
        report: Option<i64>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The timetable.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// What each provider owes: listed collections that apply to it while it is open.
    Obligations {
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
    },
}

#[derive(Args)]
struct Json {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct Decision {
    /// The collection's slug.
    slug: String,
    /// The DAP member deciding.
    #[arg(long, env = "TALLY_ACTOR")]
    by: String,
    /// Why, in words that will be published on the register.
    #[arg(long)]
    reason: String,
}

#[derive(Subcommand)]
enum Collections {
    /// Run the creep checks on a definition file (or a folder of them) without proposing it.
    /// Exits 3 when a check blocks it.
    Check {
        /// A definition file, or a folder of them.
        path: PathBuf,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Propose one definition file: it is recorded with its findings for DAP to decide.
    /// Exits 3 when a check blocks it.
    Propose {
        /// The definition file (collections/<slug>.toml).
        file: PathBuf,
        /// Who proposes it.
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List every collection in the register with its licence and status.
    List(Json),
    /// A collection's definition, versions and decision log.
    Show {
        /// The collection's slug.
        slug: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List (license) the proposal awaiting a decision.
    Approve {
        #[command(flatten)]
        decision: Decision,
        /// Override a blocking finding: RULE="written reason". Overrides are public.
        #[arg(long = "override", value_name = "RULE=REASON")]
        overrides: Vec<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Reject the proposal awaiting a decision.
    Reject(Decision),
    /// Suspend a listed collection: nothing is pulled until it is reinstated.
    Suspend(Decision),
    /// Reinstate a suspended collection.
    Reinstate(Decision),
    /// Retire a collection for good.
    Retire(Decision),
}

#[derive(Subcommand)]
enum BurdenCommand {
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

#[derive(Subcommand)]
enum ReturnsCommand {
    /// Every return in the queries folder, and whether it can be built now.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Build a return for a period from the current extracts: a new numbered artifact, or
    /// the latest one when its query and inputs have not changed.
    Build {
        /// The return's name (see tally returns list).
        name: String,
        /// The period: 2026-11-24, 2026-11, 2026-27-Q1…
        #[arg(long)]
        period: String,
        /// Build every period from --period to this one, with a progress bar.
        #[arg(long)]
        to: Option<String>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the latest artifact of a return for a period: completeness and rows.
    Show {
        name: String,
        #[arg(long)]
        period: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write the latest artifact of a return for a period to a file.
    Export {
        name: String,
        #[arg(long)]
        period: String,
        #[arg(long, value_enum)]
        format: tally::returns::export::ExportFormat,
        /// The file to write; CSV, JSON and Parquet get <file>.manifest.json beside it.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum LakeCommand {
    /// Gather the current extracts of each closed month (of a daily collection) or period
    /// (of any other) into one pack, so returns read a few files, not thousands. tally
    /// serve packs each as it closes and again when an amendment lands; this catches up
    /// after downtime or a bulk load. A pack only speeds reading: the extracts stay.
    Pack {
        /// Only this collection (default: every listed one).
        collection: Option<String>,
        /// Pack the months or periods inside this period, closed or not (default: every
        /// closed one since the collection was listed).
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

#[derive(Subcommand)]
enum ScheduleCommand {
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

#[derive(Subcommand)]
enum Providers {
    /// Add or update providers from a CSV (columns: code, name, kind, region, icb,
    /// local_authority, opened_on, closed_on, successor). All rows or none.
    Import {
        /// The CSV file.
        csv: PathBuf,
    },
    /// List the providers.
    List(Json),
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let settings = Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok())?;
    let s = &settings;
    match cli.command {
        Command::Demo {
            out,
            trusts,
            care_homes,
            seed,
            days,
            start,
            bind,
            no_serve,
        } => {
            let options = tally::demo::Options {
                out,
                trusts,
                care_homes,
                seed,
                days,
                start,
                serve: (!no_serve).then_some(bind),
            };
            tally::demo::run(s, &options).await
        }
        Command::Collections(c) => match c {
            Collections::Check { path, json } => cli::check(s, &path, json).await,
            Collections::Propose { file, by, json } => cli::propose(s, &file, &by, json).await,
            Collections::List(j) => cli::list(s, j.json).await,
            Collections::Show { slug, json } => cli::show(s, &slug, json).await,
            Collections::Approve {
                decision: d,
                overrides,
                json,
            } => cli::approve(s, &d.slug, &d.by, &d.reason, &overrides, json).await,
            Collections::Reject(d) => cli::reject(s, &d.slug, &d.by, &d.reason).await,
            Collections::Suspend(d) => {
                cli::change(s, &d.slug, StatusChange::Suspend, &d.by, &d.reason).await
            }
            Collections::Reinstate(d) => {
                cli::change(s, &d.slug, StatusChange::Reinstate, &d.by, &d.reason).await
            }
            Collections::Retire(d) => {
                cli::change(s, &d.slug, StatusChange::Retire, &d.by, &d.reason).await
            }
        },
        Command::Register(j) => cli::register(s, j.json).await,
        Command::Burden { set: None, json } => cli::burden(s, json).await,
        Command::Burden {
            set:
                Some(BurdenCommand::Set {
                    cap,
                    baseline,
                    baseline_date,
                    goal,
                    by_date,
                    by,
                    reason,
                }),
            ..
        } => {
            let change = BudgetChange {
                cap_hours: cap,
                baseline_hours: baseline,
                baseline_date,
                goal_hours: goal,
                target_date: by_date,
            };
            cli::budget_set(s, change, &by, &reason).await
        }
        Command::Serve(args) => cli::serve(s, args).await,
        Command::Token(t) => cli::tokens::run(s, t).await,
        Command::Exceptions(e) => cli::exceptions::run(s, e).await,
        Command::Pull {
            collection,
            provider,
            period,
            again,
            json,
        } => cli::pull_now(s, &collection, &provider, &period, again, json).await,
        Command::Upload(args) => cli::upload(s, args).await,
        Command::Runs {
            report: Some(id),
            json,
            ..
        } => cli::run_report(s, id, json).await,
        Command::Runs {
            collection,
            provider,
            status,
            limit,
            json,
            report: None,
        } => {
            let filter = tally::store::runs::RunFilter {
                collection,
                provider,
                status: status.map(|s| s.parse()).transpose()?,
                limit,
                finished_after: None,
            };
            cli::runs(s, filter, json).await
        }
        Command::Returns(ReturnsCommand::List { json }) => cli::returns::list(s, json).await,
        Command::Returns(ReturnsCommand::Build {
            name,
            period,
            to,
            json,
        }) => cli::returns::build_one(s, &name, &period, to.as_deref(), json).await,
        Command::Returns(ReturnsCommand::Show { name, period, json }) => {
            cli::returns::show(s, &name, &period, json).await
        }
        Command::Returns(ReturnsCommand::Export {
            name,
            period,
            format,
            out,
        }) => cli::returns::export_one(s, &name, &period, format, &out).await,
        Command::Lake(LakeCommand::Pack {
            collection,
            period,
            to,
            json,
        }) => {
            cli::lake::pack(
                s,
                collection.as_deref(),
                period.as_deref(),
                to.as_deref(),
                json,
            )
            .await
        }
        Command::Schedule(ScheduleCommand::Preview {
            collection,
            cron,
            timezone,
            from,
            to,
            json,
        }) => {
            cli::preview(
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
        Command::Providers(Providers::Import { csv }) => cli::providers_import(s, &csv).await,
        Command::Providers(Providers::List(j)) => cli::providers_list(s, j.json).await,
        Command::Obligations { provider, on, json } => {
            cli::obligations(s, provider.as_deref(), on, json).await
        }
    }
}

/// The error and its causes, each once: database drivers often repeat their cause's text in
/// their own message, and a user should read it once.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.iter().any(|seen| seen.contains(text.trim())) {
            out.push(text);
        }
    }
    out.join(": ")
}

fn main() -> ExitCode {
    // A child started to read one spreadsheet or Parquet file under limits: nothing else.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(tally::connectors::child::COMMAND) {
        return tally::connectors::child::child_main(&args[2..]);
    }
    // Spreadsheets and Parquet are read by this same program, started again as a child,
    // whatever name it was installed under.
    if let Ok(me) = std::env::current_exe() {
        tally::connectors::child::use_program(me);
    }
    // Output piped into `head` or `less` that closes early should end tally quietly, as it
    // does any Unix tool, rather than panic on the next println!.
    #[cfg(unix)]
    // SAFETY: called first in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALLY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Blocked) => ExitCode::from(3),
        Ok(Outcome::Failed) => ExitCode::from(4),
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            if matches!(e.downcast_ref(), Some(RegistryError::Blocked(_))) {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
