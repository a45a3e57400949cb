//! Where the burden falls: providers ranked by the burden they achieved, so that DAP sees
//! where automation has not reached.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::achieved::{Achieved, How, Met, totals};
use crate::domain::budget::StaffRates;

/// One provider's periods owed in a window, and what they cost it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProviderAchieved {
    pub provider: String,
    pub name: String,
    pub owed: u32,
    /// Uploaded by hand or filled in as a form.
    pub by_hand: u32,
    pub fixes: u32,
    pub never_sent: u32,
    pub achieved_hours: f64,
    pub estimated_hours: f64,
    /// None where a collection's staff group has no rate.
    pub achieved_pounds: Option<f64>,
}

/// The `most` providers with the most achieved hours in `ledger`, most first, priced at
/// `rates` by each collection's staff group (`groups`: collection → group).
pub fn rank(
    ledger: &[Met],
    names: &HashMap<String, String>,
    groups: &HashMap<String, Option<String>>,
    rates: Option<&StaffRates>,
    most: usize,
) -> Vec<ProviderAchieved> {
    let mut by: BTreeMap<&str, (ProviderAchieved, BTreeMap<Option<&str>, f64>)> = BTreeMap::new();
    for m in ledger {
        let (p, hours) = by.entry(m.provider.as_str()).or_default();
        p.owed += 1;
        p.by_hand += u32::from(matches!(m.how, How::Uploaded | How::Form));
        p.never_sent += u32::from(m.how == How::NeverSent);
        p.fixes += m.fixes;
        p.achieved_hours += m.minutes / 60.0;
        p.estimated_hours += m.estimated_minutes / 60.0;
        let group = groups.get(&m.collection).and_then(|g| g.as_deref());
        *hours.entry(group).or_default() += m.minutes / 60.0;
    }
    let mut out: Vec<ProviderAchieved> = by
        .into_iter()
        .map(|(code, (mut p, hours))| {
            p.provider = code.to_owned();
            p.name = names.get(code).cloned().unwrap_or_default();
            p.achieved_pounds = rates.and_then(|r| {
                hours
                    .iter()
                    .map(|(group, h)| r.pounds(*group, *h))
                    .sum::<Option<f64>>()
                    .map(|p| p + 0.0)
            });
            p
        })
        .collect();
    out.sort_by(|a, b| {
        b.achieved_hours
            .total_cmp(&a.achieved_hours)
            .then_with(|| a.provider.cmp(&b.provider))
    });
    out.truncate(most);
    out
}

impl super::Registry {
    /// [`super::Registry::achieved`], with the `most` providers whose periods cost them
    /// most.
    pub async fn achieved_ranked(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        rates: Option<&StaffRates>,
        most: usize,
    ) -> anyhow::Result<(Achieved, Vec<ProviderAchieved>)> {
        let (history, ledger) = self.achieved_ledger(from, to, now).await?;
        let in_force = super::provider_burden::in_force(&history);
        let mut achieved = totals(&in_force, &ledger, from, to);
        achieved.price(rates);
        let names: HashMap<String, String> = self
            .store()
            .providers()
            .await?
            .into_iter()
            .map(|p| (p.code.to_string(), p.name))
            .collect();
        let groups: HashMap<String, Option<String>> = history
            .iter()
            .map(|(def, _, _)| (def.slug.to_string(), def.burden.staff_group.clone()))
            .collect();
        let ranked = rank(&ledger, &names, &groups, rates, most);
        Ok((achieved, ranked))
    }
}
