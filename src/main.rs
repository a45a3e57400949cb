//! The `tally` command: its commands by name, each run by the CLI file that owns its
//! arguments (`src/cli/`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tally::cli::{self, Outcome};
use tally::config::Settings;
use tally::domain::RegistryError;

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
    Demo(tally::demo::DemoArgs),
    /// Check, propose and decide on collections.
    #[command(subcommand)]
    Collections(cli::collections::CollectionsCommand),
    /// Print the public register: licences, status, burden, reasons and overrides.
    Register(cli::Json),
    /// Estimated burden: per collection, total, against DAP's cap and target.
    Burden(cli::burden::BurdenArgs),
    /// The organisations that must report.
    #[command(subcommand)]
    Providers(cli::providers::ProvidersCommand),
    /// Serve the web pages and the API, and run the scheduler: pull every due period from
    /// its source, once a minute (`--step-seconds`), until stopped.
    Serve(cli::serve::ServeArgs),
    /// The national returns: list, build, show and export.
    #[command(subcommand)]
    Returns(cli::returns::ReturnsCommand),
    /// Tokens for the web pages and the API: create, list, revoke.
    #[command(subcommand)]
    Token(cli::tokens::TokenCommand),
    /// DAP's exceptions to the window a period may be sent in by hand: grant, list.
    #[command(subcommand)]
    Exceptions(cli::exceptions::ExceptionsCommand),
    /// The lake's packs: closed months of extracts gathered into one file each.
    #[command(subcommand)]
    Lake(cli::lake::LakeCommand),
    /// Pull one period now from the provider's source, land it and record the run.
    Pull(cli::runs::PullArgs),
    /// Land a file handed over by hand (CSV or a spreadsheet's first sheet) for one period:
    /// the same checks and report as a pull, and the next version of the period.
    Upload(cli::runs::UploadArgs),
    /// The run ledger: each attempt to pull a period, newest first.
    Runs(cli::runs::RunsArgs),
    /// The timetable.
    #[command(subcommand)]
    Schedule(cli::schedule::ScheduleCommand),
    /// What each provider owes: listed collections that apply to it while it is open.
    Obligations(cli::providers::ObligationsArgs),
    /// Sign-off of periods pulled from a provider's source: standing, or period by period.
    #[command(subcommand)]
    Signoffs(cli::signoffs::SignOffsCommand),
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let settings = Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok())?;
    let s = &settings;
    match cli.command {
        Command::Demo(args) => tally::demo::run(s, &args.into()).await,
        Command::Collections(c) => cli::collections::run(s, c).await,
        Command::Register(j) => cli::collections::register(s, j.json).await,
        Command::Burden(args) => cli::burden::run(s, args).await,
        Command::Providers(p) => cli::providers::run(s, p).await,
        Command::Serve(args) => cli::serve::serve(s, args).await,
        Command::Returns(r) => cli::returns::run(s, r).await,
        Command::Token(t) => cli::tokens::run(s, t).await,
        Command::Exceptions(e) => cli::exceptions::run(s, e).await,
        Command::Lake(l) => cli::lake::run(s, l).await,
        Command::Pull(args) => cli::runs::pull(s, args).await,
        Command::Upload(args) => cli::runs::upload(s, args).await,
        Command::Runs(args) => cli::runs::runs(s, args).await,
        Command::Schedule(c) => cli::schedule::run(s, c).await,
        Command::Obligations(args) => cli::providers::obligations_of(s, args).await,
        Command::Signoffs(c) => cli::signoffs::run(s, c).await,
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
