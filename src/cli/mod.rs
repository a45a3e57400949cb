//! What each CLI command does and prints. `main.rs` parses arguments; every command here
//! returns an `Outcome` so that a blocked proposal exits non-zero without being an error.

mod burden;
mod collections;
pub mod exceptions;
pub mod lake;
pub mod returns;
mod runs;
mod schedule;
pub mod tokens;

use std::sync::Arc;

use serde::Serialize;

use crate::config::Settings;
use crate::registry::Registry;
use crate::store;

pub use crate::registry::burden::thousands;

pub use burden::{
    budget_set, burden, obligations, print_burden, providers_import, providers_list, register,
};
pub use collections::{approve, change, check, list, propose, reject, show};
pub use runs::{ServeArgs, UploadArgs, pull_now, run_report, runs, serve, upload};
pub use schedule::{parse_time, preview};

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
