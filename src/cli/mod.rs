//! What each CLI command takes, does and prints: each file holds its commands' arguments
//! and a `run` for them, and `main.rs` only names the commands. Every command returns an
//! `Outcome` so that a blocked proposal exits non-zero without being an error.

pub mod burden;
pub mod collections;
pub mod exceptions;
pub mod lake;
pub mod licences;
pub mod providers;
pub mod returns;
pub mod runs;
pub mod schedule;
pub mod serve;
pub mod signoffs;
pub mod tokens;

use std::sync::Arc;

use serde::Serialize;

use crate::config::Settings;
use crate::registry::Registry;
use crate::store;

pub use crate::registry::burden::thousands;

pub use burden::print_burden;
pub use schedule::parse_time;

/// `--json` alone.
#[derive(clap::Args)]
pub struct Json {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The creep checks blocked a proposal (exit code 3).
    Blocked,
    /// The command ran but what it did failed (a pull rejected, refused or failed): exit 4.
    Failed,
}

/// Opens the register the settings name.
pub async fn open(settings: &Settings) -> anyhow::Result<Registry> {
    let store: Arc<dyn store::Store> = store::connect(&settings.database_url).await?;
    Ok(Registry::new(store, settings.timezone))
}

/// The SQLite file a `sqlite:` URL names, if it is one.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let file = url.strip_prefix("sqlite:")?;
    Some(std::path::PathBuf::from(
        file.trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default(),
    ))
}

/// `open`, for a command that only reads: a register that does not exist yet is an error
/// that says so, rather than an empty one made where the user may not have meant.
pub async fn open_existing(settings: &Settings) -> anyhow::Result<Registry> {
    if let Some(file) = sqlite_file(&settings.database_url)
        && !file.exists()
    {
        anyhow::bail!(
            "there is no register at {}: nothing has been recorded there yet. Record something \
             first (tally providers import, tally collections propose), or point --config or \
             TALLY_DATABASE_URL at an existing register",
            file.display()
        );
    }
    open(settings).await
}

/// `1 provider`, `3 providers`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{} {word}s", thousands(n as f64))
    }
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A name for this process in the run ledger that no other process shares, on this machine
/// or another: several containers may all be process 1.
pub(crate) fn instance_name(role: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{role}-{host}-{}-{:x}",
        std::process::id(),
        nanos & 0xffff_ffff
    )
}
