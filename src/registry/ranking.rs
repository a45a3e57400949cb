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

/// One collection's periods of one provider ending in one month, and what they cost it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthAchieved {
    /// `2026-11`: the month the periods' last days are in.
    pub month: String,
    pub collection: String,
    pub title: String,
    pub owed: u32,
    pub pulled: u32,
    /// Uploaded by hand or filled in as a form.
    pub by_hand: u32,
    pub never_sent: u32,
    pub nil_returns: u32,
    /// Periods whose time the provider recorded.
    pub recorded: u32,
    pub estimated_hours: f64,
    pub achieved_hours: f64,
    pub estimated_pounds: Option<f64>,
    pub achieved_pounds: Option<f64>,
}

impl super::Registry {
    /// `provider`'s periods owed over the twelve months to `now`, by month and collection:
    /// the burden as it felt it, beside the estimate, priced at `rates`. Oldest first.
    pub async fn provider_achieved(
        &self,
        provider: &str,
        now: DateTime<Utc>,
        rates: Option<&StaffRates>,
    ) -> anyhow::Result<Vec<MonthAchieved>> {
        let today = self.day(now);
        let months = super::provider_burden::last_twelve_months(today);
        let from = months.first().map_or(today, |m| m.first_day());
        let to = today + chrono::Days::new(1);
        let (history, ledger) = self
            .achieved_ledger_of(from, to, now, Some(provider))
            .await?;
        let def = |slug: &str| history.iter().find(|(d, _, _)| d.slug.as_str() == slug);
        let mut by: BTreeMap<(String, String), MonthAchieved> = BTreeMap::new();
        for m in ledger.iter().filter(|m| m.provider == provider) {
            let Ok(period) = crate::domain::Period::parse(&m.period) else {
                continue;
            };
            let last = period.end() - chrono::Days::new(1);
            let month = last.format("%Y-%m").to_string();
            let row = by
                .entry((month.clone(), m.collection.clone()))
                .or_insert_with(|| MonthAchieved {
                    month,
                    collection: m.collection.clone(),
                    title: def(&m.collection)
                        .map(|(d, _, _)| d.title.clone())
                        .unwrap_or_default(),
                    ..MonthAchieved::default()
                });
            row.owed += 1;
            row.pulled += u32::from(m.how == How::Pulled);
            row.by_hand += u32::from(matches!(m.how, How::Uploaded | How::Form));
            row.never_sent += u32::from(m.how == How::NeverSent);
            row.nil_returns += u32::from(m.how == How::NilReturn);
            row.recorded += u32::from(m.recorded_minutes.is_some());
            row.estimated_hours += m.estimated_minutes / 60.0;
            row.achieved_hours += m.minutes / 60.0;
        }
        let mut out: Vec<MonthAchieved> = by.into_values().collect();
        if let Some(rates) = rates {
            for row in &mut out {
                let group =
                    def(&row.collection).and_then(|(d, _, _)| d.burden.staff_group.as_deref());
                row.estimated_pounds = rates.pounds(group, row.estimated_hours);
                row.achieved_pounds = rates.pounds(group, row.achieved_hours);
            }
        }
        Ok(out)
    }
}
