//! The register's collections and their versions, the decision log and DAP's budget as of
//! one revision: what every scheduler step, notice round and page asks of the register,
//! read again only when it has changed.
//!
//! Every change to a collection, a version or a licence, every decision and every change
//! to the budget counts one more revision in the same transaction (`Store::revision`), in
//! this instance or another sharing the database.
//! So a reading labelled with a revision is the register as it stood at that revision, and
//! asking whether it still holds costs one statement instead of one a collection and a
//! decoding of every definition.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::CollectionStatus;
use crate::domain::budget::Budget;
use crate::store::{CollectionRow, DecisionRow, VersionRow};

use super::Registry;

/// How often a reading is tried again when the register changes while it is read. Past
/// this the last reading is used once and not kept: a register changing that fast is
/// being written, and the next question reads it again.
const TRIES: usize = 3;

/// The register's collections and every version of each, its decisions and the budget, as
/// of one revision.
#[derive(Debug, Default)]
pub struct Rows {
    revision: i64,
    /// By slug.
    collections: Vec<CollectionRow>,
    /// Each collection's versions, oldest first.
    versions: HashMap<String, Vec<VersionRow>>,
    /// Every decision, oldest first.
    decisions: Vec<DecisionRow>,
    /// DAP's budget as last set.
    budget: Option<Budget>,
}

impl Rows {
    fn new(revision: i64, collections: Vec<CollectionRow>, every: Vec<VersionRow>) -> Rows {
        let mut versions: HashMap<String, Vec<VersionRow>> = HashMap::new();
        for v in every {
            versions.entry(v.slug.clone()).or_default().push(v);
        }
        Rows {
            revision,
            collections,
            versions,
            ..Rows::default()
        }
    }

    /// The revision this reading holds for.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Every collection on the register, by slug.
    pub fn collections(&self) -> &[CollectionRow] {
        &self.collections
    }

    pub fn collection(&self, slug: &str) -> Option<&CollectionRow> {
        self.collections.iter().find(|c| c.slug == slug)
    }

    /// The decision log, oldest first.
    pub fn decisions(&self) -> &[DecisionRow] {
        &self.decisions
    }

    /// The decisions on one collection, oldest first.
    pub fn decisions_of<'a>(&'a self, slug: &'a str) -> impl Iterator<Item = &'a DecisionRow> {
        self.decisions.iter().filter(move |d| d.slug == slug)
    }

    /// DAP's budget as last set, if it ever was.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Every version of one collection, oldest first; none for a slug not on the register.
    pub fn versions(&self, slug: &str) -> &[VersionRow] {
        self.versions.get(slug).map_or(&[], Vec::as_slice)
    }

    /// The version in force of every listed or suspended collection, by slug.
    pub fn in_force(&self) -> impl Iterator<Item = &VersionRow> {
        self.collections
            .iter()
            .filter(|c| {
                matches!(
                    c.status,
                    CollectionStatus::Listed | CollectionStatus::Suspended
                )
            })
            .filter_map(|c| {
                self.versions(&c.slug)
                    .iter()
                    .find(|v| v.status == CollectionStatus::Listed)
            })
    }

    /// The version in force of one collection, if it is listed or suspended.
    pub fn in_force_of(&self, slug: &str) -> Option<&VersionRow> {
        self.in_force().find(|v| v.slug == slug)
    }
}

impl Registry {
    /// The register's collections and versions, its decisions and the budget, read again
    /// only when its revision has moved.
    pub async fn rows(&self) -> anyhow::Result<Arc<Rows>> {
        let store = self.store();
        let seen = self.revisions().await?.register;
        if let Some(kept) = self.rows.lock().expect("not poisoned").as_ref()
            && kept.revision == seen
        {
            return Ok(kept.clone());
        }
        // Read afresh, not the request's reading: the label must be read just before.
        let mut revision = store.revision().await?;
        let mut tries = 0;
        loop {
            let collections = store.collections().await?;
            let every = store.every_version().await?;
            let decisions = store.decisions(None).await?;
            let budget = store.budget().await?;
            // The readings are of one revision only if no change committed between the
            // revision read before them and the one read after.
            let after = store.revision().await?;
            let rows = Arc::new(Rows {
                decisions,
                budget,
                ..Rows::new(revision, collections, every)
            });
            tries += 1;
            if after == revision {
                *self.rows.lock().expect("not poisoned") = Some(rows.clone());
                return Ok(rows);
            }
            if tries == TRIES {
                return Ok(rows);
            }
            revision = after;
        }
    }
}
