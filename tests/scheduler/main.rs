//! The scheduler `tally serve` runs: one step with a file source, two schedulers on one
//! PostgreSQL database, and three simulated days against 300 sources, a quarter broken.

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod forms;
mod mail;
mod runner;
mod standing;
mod two_runners;
