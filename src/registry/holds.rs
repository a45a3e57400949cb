//! Figures held for their provider to confirm: what a provider sees on its page and through
//! the API, and the confirmation both take. A correction needs nothing here: it lands as a
//! new version through the upload path, is checked afresh, and the old version's hold is
//! moot.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Registry;
use super::window::closes;
use crate::domain::Period;
use crate::domain::held::Held;
use crate::store::holds::{HoldFilter, HoldRow};

/// The longest note a confirmation takes.
pub const MOST_NOTE_CHARS: usize = 1000;

/// Why a confirmation was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("no figures of {collection} {period} from {provider} are held")]
    NotHeld {
        collection: String,
        provider: String,
        period: String,
    },
    #[error(
        "version {asked} of {collection} {period} is no longer the current one: version {current} landed since; look at it before confirming"
    )]
    Moved {
        collection: String,
        period: String,
        asked: i64,
        current: i64,
    },
    #[error("the figures of {collection} {period} were confirmed already, by {by}")]
    Confirmed {
        collection: String,
        period: String,
        by: String,
    },
    #[error(
        "{collection} {period} closed to changes at {closed}; its figures stay provisional in the returns"
    )]
    Closed {
        collection: String,
        period: String,
        closed: DateTime<Utc>,
    },
    #[error(
        "the hold on {collection} {period} changed while it was being confirmed (confirmed by someone else, or a newer version landed); look at it again"
    )]
    Changed { collection: String, period: String },
    #[error("the note is longer than {MOST_NOTE_CHARS} characters, or holds control characters")]
    Note,
}

/// A hold with its figures, as its provider reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    #[serde(flatten)]
    pub hold: HoldRow,
    /// The collection's title.
    pub title: String,
    /// The figures held (at most 200; `figures` counts them all), each with its baseline.
    pub held: Vec<Held>,
    /// Each held figure in words.
    pub said: Vec<String>,
    /// Until when the provider may confirm or correct them: the end of the period's
    /// amendment window.
    pub closes: Option<DateTime<Utc>>,
}

impl Registry {
    /// `provider`'s holds on current versions, oldest period first: those awaiting
    /// confirmation only, or all.
    pub async fn holds_of(&self, provider: &str, awaiting: bool) -> anyhow::Result<Vec<HoldView>> {
        let rows = self
            .store()
            .holds(&HoldFilter {
                provider: Some(provider.to_owned()),
                awaiting,
                ..HoldFilter::default()
            })
            .await?;
        let register = self.rows().await?;
        let mut out = Vec::with_capacity(rows.len());
        for hold in rows {
            let def = register.in_force_of(&hold.collection);
            let period = Period::parse(&hold.period).ok();
            let daily = period
                .as_ref()
                .is_some_and(|p| p.kind() == crate::domain::PeriodKind::Day);
            let held = self
                .store()
                .held_figures(&hold.collection, &hold.provider, &hold.period, hold.version)
                .await?;
            out.push(HoldView {
                title: def
                    .as_ref()
                    .map_or_else(|| hold.collection.clone(), |d| d.definition.title.clone()),
                said: held.iter().map(|h| h.said(daily)).collect(),
                closes: def.zip(period).map(|(d, p)| closes(&d.definition, &p)),
                held,
                hold,
            });
        }
        Ok(out)
    }

    /// Records that `by` has checked the held figures of `version` of `provider`'s
    /// `collection` for `period` and they are right; returns the hold as it now stands.
    #[allow(clippy::too_many_arguments)]
    pub async fn confirm_held(
        &self,
        provider: &str,
        collection: &str,
        period: &str,
        version: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<HoldRow> {
        let note = note.trim().replace("\r\n", "\n");
        if note.chars().count() > MOST_NOTE_CHARS
            || note
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(HoldError::Note.into());
        }
        let not_held = || HoldError::NotHeld {
            collection: collection.to_owned(),
            provider: provider.to_owned(),
            period: period.to_owned(),
        };
        let filter = HoldFilter {
            provider: Some(provider.to_owned()),
            collection: Some(collection.to_owned()),
            ..HoldFilter::default()
        };
        let held = self.store().holds(&filter).await?;
        let Some(hold) = held.into_iter().find(|h| h.period == period) else {
            return Err(not_held().into());
        };
        if hold.version != version {
            return Err(HoldError::Moved {
                collection: collection.to_owned(),
                period: period.to_owned(),
                asked: version,
                current: hold.version,
            }
            .into());
        }
        if let Some(by) = &hold.confirmed_by {
            return Err(HoldError::Confirmed {
                collection: collection.to_owned(),
                period: period.to_owned(),
                by: by.clone(),
            }
            .into());
        }
        let register = self.rows().await?;
        if let (Some(def), Ok(p)) = (register.in_force_of(collection), Period::parse(period)) {
            let closed = closes(&def.definition, &p);
            if at > closed {
                return Err(HoldError::Closed {
                    collection: collection.to_owned(),
                    period: period.to_owned(),
                    closed,
                }
                .into());
            }
        }
        if !self
            .store()
            .confirm_hold(collection, provider, period, version, by, &note, at)
            .await?
        {
            // Confirmed or replaced between the look and the update.
            return Err(HoldError::Changed {
                collection: collection.to_owned(),
                period: period.to_owned(),
            }
            .into());
        }
        Ok(HoldRow {
            confirmed_by: Some(by.to_owned()),
            confirmed_at: Some(at),
            note: Some(note),
            ..hold
        })
    }
}
