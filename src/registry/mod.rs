//! The register of data collections: definitions, the governance workflow, the creep checks
//! and the burden model.

pub mod achieved;
pub mod burden;
pub mod causes;
pub mod checks;
pub mod enquiries;
pub mod exceptions;
pub mod felt;
pub mod governance;
pub mod holds;
pub mod load;
pub mod notice;
pub mod provider_burden;
pub mod ranking;
pub mod readiness;
pub mod recorded;
pub mod records;
pub mod report;
pub mod report_files;
pub mod reporting;
pub mod rows;
pub mod seen;
pub mod signoff;
pub mod views;
pub mod window;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::provider::Provider;
use crate::domain::{CollectionStatus, RegistryError};
use crate::store::{CollectionRow, Store, VersionRow};

/// The register: the store, read and changed through DAP's workflow.
pub struct Registry {
    store: Arc<dyn Store>,
    tz: chrono_tz::Tz,
    /// The provider register as of a revision. Fifteen thousand care homes take tens of
    /// milliseconds to read, and every page of the register needs them; an import bumps the
    /// revision, so a reading is reused until the next one, in this instance or another.
    providers: std::sync::Mutex<Option<(i64, Arc<Vec<Provider>>)>>,
    /// The collections and their versions as of a revision, kept the same way.
    rows: std::sync::Mutex<Option<Arc<rows::Rows>>>,
    /// What the burden accounts are replayed from, as of the register's revision and the
    /// ledger's first arrivals: every page of burden needs it, and reading it means reading
    /// every run. One reading at a time; the others wait for it and share it.
    records: tokio::sync::Mutex<Option<(RecordsSeen, Arc<records::Records>)>>,
    /// The last estimate worked out from them, and when it holds.
    estimate: std::sync::Mutex<Option<views::KeptEstimate>>,
}

/// The register's revision and the ledger's arrivals revision a reading of the records
/// was made at.
type RecordsSeen = (i64, i64);

/// Names and reasons are published on the register: required, and plain text on one line,
/// so that nobody can forge a register line or send terminal escapes through one.
fn require_words(what: &str, value: &str) -> Result<String, RegistryError> {
    let v = value.trim();
    if v.is_empty() {
        Err(RegistryError::Refused(format!(
            "{what} is required and must not be empty"
        )))
    } else if v.chars().any(char::is_control) {
        Err(RegistryError::Refused(format!(
            "{what} must be plain text on one line, without control characters"
        )))
    } else {
        Ok(v.to_owned())
    }
}

fn status_at(
    row: &CollectionRow,
    in_force: Option<&VersionRow>,
    at: DateTime<Utc>,
) -> CollectionStatus {
    match in_force.and_then(|v| v.expires_at) {
        Some(expiry) if row.status == CollectionStatus::Listed && expiry <= at => {
            CollectionStatus::Expired
        }
        _ => row.status,
    }
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, tz: chrono_tz::Tz) -> Registry {
        Registry {
            store,
            tz,
            providers: std::sync::Mutex::new(None),
            rows: std::sync::Mutex::new(None),
            records: tokio::sync::Mutex::new(None),
            estimate: std::sync::Mutex::new(None),
        }
    }

    /// The provider register, read again only when the register's revision has moved.
    pub async fn providers(&self) -> anyhow::Result<Arc<Vec<Provider>>> {
        let revision = self.revisions().await?.register;
        if let Some((seen, list)) = self.providers.lock().expect("not poisoned").as_ref()
            && *seen == revision
        {
            return Ok(list.clone());
        }
        // Read the revision before the list: an import between the two leaves an older
        // revision with a newer list, which is only read again next time.
        let list = Arc::new(self.store.providers().await?);
        *self.providers.lock().expect("not poisoned") = Some((revision, list.clone()));
        Ok(list)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The versions in force whose licences have not expired at `at`, with licence numbers.
    fn live(
        rows: &rows::Rows,
        at: DateTime<Utc>,
    ) -> impl Iterator<Item = (Option<&String>, &VersionRow)> {
        rows.in_force()
            .filter(move |v| v.expires_at.is_none_or(|e| e > at))
            .map(|v| {
                let licence = rows
                    .collection(&v.slug)
                    .and_then(|c| c.licence_number.as_ref());
                (licence, v)
            })
    }
}
