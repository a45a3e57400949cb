//! The ground floor: the value types every layer shares (periods and their kinds, the key of
//! a run, a problem found in an input file), which use nothing above them.

mod period;
mod problem;
mod run_key;

pub use period::{Period, PeriodKind, periods_within};
pub use problem::{Problem, Problems};
pub use run_key::{LAKE_COLUMNS, RunKey};
