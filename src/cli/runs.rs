//! `tally runs`: the run ledger, newest first.

use chrono::Utc;

use super::{Outcome, plural, print_json};
use crate::config::Settings;
use crate::store::runs::RunFilter;

pub async fn runs(settings: &Settings, filter: RunFilter, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    let rows = registry.store().runs(&filter).await?;
    if json {
        return print_json(&rows).map(|_| Outcome::Done);
    }
    if rows.is_empty() {
        println!("No runs match.");
        return Ok(Outcome::Done);
    }
    let when = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&settings.timezone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    println!(
        "{:<6} {:<22} {:<12} {:<11} {:>3} {:<9} {:<16} {:>8} {:>8}  note",
        "run", "collection", "provider", "period", "try", "status", "started", "rows", "rejected"
    );
    for r in &rows {
        let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:<6} {:<22} {:<12} {:<11} {:>3} {:<9} {:<16} {:>8} {:>8}  {}",
            r.id,
            r.collection,
            r.provider,
            r.period,
            r.attempt,
            r.status,
            when(r.started_at),
            count(r.rows_accepted),
            count(r.rows_rejected),
            r.error.as_deref().unwrap_or("")
        );
    }
    println!("{}", plural(rows.len() as u64, "run"));
    Ok(Outcome::Done)
}
