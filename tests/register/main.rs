//! The register and its ledger: collections as code and the creep checks, the register's
//! contract on SQLite and PostgreSQL, the run ledger's, and the timetable.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod collections;
mod run_ledger;
mod store_contract;
mod timetable;
