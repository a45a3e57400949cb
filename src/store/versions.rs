//! Landed versions of extracts as the run ledger records them: every version in full, and
//! the lean view of a current version that returns and packs read thousands of at once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// One landed version of an extract.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct ExtractVersion {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    pub run_id: i64,
    pub path: String,
    pub raw_path: String,
    pub raw_sha256: String,
    pub bytes: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub report: sqlx::types::Json<serde_json::Value>,
    pub landed_at: DateTime<Utc>,
    /// The source's ETag for the extract, when it gave one.
    pub etag: Option<String>,
}

/// What a return and a pack need of a current version: which file holds it, and how it
/// arrived. Leaner than [`ExtractVersion`]: a quarter's build reads 17,000 of them, and the
/// reports they would carry are not needed.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct CurrentVersion {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    pub path: String,
    pub raw_sha256: String,
    pub landed_at: DateTime<Utc>,
    /// Rows of the extract that failed a check and were kept out of this version.
    pub rows_rejected: i64,
    /// When the period's first version landed: whether it came late is decided by this,
    /// never by a correction's time.
    #[sqlx(default)]
    pub first_landed_at: DateTime<Utc>,
    /// Versions the period has had: more than one means it was amended.
    #[sqlx(default)]
    pub versions: i64,
}
