//! The ground floor: the value types every layer shares, which use nothing above them. The
//! words of DESIGN.md: periods and their kinds, the key of a run, a problem found in an
//! input file, providers, collection definitions and their items, the creep checks'
//! findings and DAP's overrides, DAP's budget, and what the register refuses.

pub mod budget;
pub mod definition;
mod error;
pub mod finding;
pub mod held;
mod period;
mod problem;
pub mod provider;
mod run_key;
mod status;

pub use error::{Invalid, RegistryError};
pub use period::{Period, PeriodKind, periods_within};
pub use problem::{Problem, Problems};
pub use run_key::{LAKE_COLUMNS, RunKey};
pub use status::{
    Arrival, AuditOutcome, CollectionStatus, PullStatus, RunStatus, Step, UnknownStatus,
    UploadStatus,
};
