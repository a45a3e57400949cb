//! The register's contract, run against SQLite and PostgreSQL alike: every test here is one
//! async function taking a fresh database, and `contract!` makes a test of it for each
//! backend. The PostgreSQL tests skip with a notice when no server answers, unless `CI` is set.

use chrono::{TimeZone, Utc};
use tally::domain::RegistryError;

mod at_once;
mod budget;
mod lifecycle;
mod listing;
mod notice;
mod providers;

fn at(day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
}

fn refused(e: &anyhow::Error) -> String {
    match e.downcast_ref::<RegistryError>() {
        Some(r) => r.to_string(),
        None => panic!("expected a RegistryError, got {e:#}"),
    }
}
