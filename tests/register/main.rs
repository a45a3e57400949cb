//! The register and its ledger: collections as code and the creep checks, the register's
//! contract on SQLite and PostgreSQL, the run ledger's, registers from an earlier
//! Tally, and the timetable.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod achieved;
mod arrivals;
mod causes;
mod collections;
mod kept;
mod migrations;
mod recorded;
mod report;
mod reporting;
mod run_ledger;
mod settled;
mod signoffs;
mod store_contract;
mod timetable;
