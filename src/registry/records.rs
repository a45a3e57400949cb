//! What the burden accounts are replayed from: every version listed, DAP's decisions, the
//! providers with the day each joined the register, and each provider's first upload and
//! first pull of each collection, as recorded now.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::definition::CollectionDef;
use crate::domain::provider::Provider;
use crate::store::burden::FirstArrival;

/// A version of a collection that was listed.
#[derive(Debug, Clone)]
pub struct Listing {
    pub version: i64,
    pub def: CollectionDef,
    pub licence_number: Option<String>,
    pub listed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The first day it was owed, when DAP set one at listing.
    pub effective_from: Option<NaiveDate>,
}

/// Everything the estimate is replayed from.
#[derive(Debug, Clone)]
pub struct Records {
    pub listings: Vec<Listing>,
    /// DAP's decisions, in the order they were made.
    pub decisions: Vec<crate::store::DecisionRow>,
    /// Each provider, with when it joined the register (none: before Tally kept the day).
    pub providers: Vec<(Provider, Option<DateTime<Utc>>)>,
    pub arrivals: Vec<FirstArrival>,
    pub tz: chrono_tz::Tz,
}

impl super::Registry {
    /// What the estimate is replayed from, as recorded now: read again only when the
    /// register's revision or the ledger's first arrivals have moved.
    pub async fn burden_records(&self) -> anyhow::Result<std::sync::Arc<Records>> {
        // The counters before the records: a change between the two leaves older counters
        // with newer records, which are only read again next time.
        let revisions = self.revisions().await?;
        let seen = (revisions.register, revisions.arrivals);
        let mut kept = self.records.lock().await;
        if let Some((at, records)) = kept.as_ref()
            && *at == seen
        {
            return Ok(records.clone());
        }
        let records = std::sync::Arc::new(self.read_records().await?);
        *kept = Some((seen, records.clone()));
        Ok(records)
    }

    async fn read_records(&self) -> anyhow::Result<Records> {
        let store = self.store();
        let rows = self.rows().await?;
        let mut decisions = rows.decisions().to_vec();
        decisions.sort_by_key(|d| (d.at, d.id));
        let mut listings = Vec::new();
        for c in rows.collections() {
            for v in rows.versions(&c.slug) {
                if let Some(listed_at) = v.listed_at {
                    // The licence number it was listed under: a collection listed again
                    // after retirement gets a new one, and the old listing keeps its own.
                    let licence_number = decisions
                        .iter()
                        .rfind(|d| {
                            d.slug == c.slug
                                && d.version == Some(v.version)
                                && d.action == crate::domain::Step::List
                        })
                        .and_then(|d| d.licence_number.clone())
                        .or_else(|| c.licence_number.clone());
                    listings.push(Listing {
                        version: v.version,
                        def: v.definition.0.clone(),
                        licence_number,
                        listed_at,
                        expires_at: v.expires_at,
                        effective_from: v.effective_from,
                    });
                }
            }
        }
        let registered: std::collections::HashMap<String, Option<DateTime<Utc>>> =
            store.registrations().await?.into_iter().collect();
        let providers = store
            .providers()
            .await?
            .into_iter()
            .map(|p| {
                let at = registered.get(p.code.as_str()).copied().flatten();
                (p, at)
            })
            .collect();
        Ok(Records {
            listings,
            decisions,
            providers,
            arrivals: store.first_arrivals().await?,
            tz: self.tz,
        })
    }
}
