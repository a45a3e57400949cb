//! The key of a run, of an extract and of its versions: one collection, one provider, one
//! period.

use serde::Serialize;

use super::Period;

/// The key of a run: one collection, one provider, one period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunKey {
    pub collection: String,
    pub provider: String,
    pub period: Period,
}

/// Columns every landed file carries before the listed items: which provider's extract it
/// is and for which period, so that a return can read many files as one table.
pub const LAKE_COLUMNS: [&str; 2] = ["provider", "period"];
