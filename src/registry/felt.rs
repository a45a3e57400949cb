//! One provider's burden as it felt it: its periods owed over the last twelve months, by
//! month and collection, priced from the achieved ledger (how each period was met) beside
//! the estimate, with the hours spent by hand, the hours on pulled periods, and the hours
//! pulling saved against filling the same in by hand. The provider's page and
//! `GET /api/v1/burden/providers/{code}` read this one account.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::achieved::How;
use crate::domain::Arrival;
use crate::domain::budget::StaffRates;

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
    /// Of the achieved hours: those of periods pulled from a source (a sign-off each, and
    /// any fix), and the rest (uploads, forms, nil returns).
    pub pulled_hours: f64,
    pub by_hand_hours: f64,
    /// Hours the pulled periods saved: the listing's manual minutes less its sign-off's.
    pub saved_hours: f64,
    pub estimated_pounds: Option<f64>,
    pub achieved_pounds: Option<f64>,
}

/// A provider's twelve months, with their totals.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProviderFelt {
    pub provider: String,
    pub name: String,
    /// Oldest month first; within a month, by collection.
    pub months: Vec<MonthAchieved>,
    pub estimated_hours: f64,
    pub achieved_hours: f64,
    pub pulled_hours: f64,
    pub by_hand_hours: f64,
    pub saved_hours: f64,
    /// None where a collection's staff group has no rate.
    pub estimated_pounds: Option<f64>,
    pub achieved_pounds: Option<f64>,
    /// The day the provider's first period was pulled from a source, if one ever was.
    pub automated_since: Option<NaiveDate>,
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
            let listed = def(&m.collection);
            let row = by
                .entry((month.clone(), m.collection.clone()))
                .or_insert_with(|| MonthAchieved {
                    month,
                    collection: m.collection.clone(),
                    title: listed.map(|(d, _, _)| d.title.clone()).unwrap_or_default(),
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
            if m.how == How::Pulled {
                row.pulled_hours += m.minutes / 60.0;
                if let Some((d, _, _)) = listed {
                    row.saved_hours +=
                        (d.burden.manual_minutes - d.burden.automated_minutes).max(0.0) / 60.0;
                }
            } else {
                row.by_hand_hours += m.minutes / 60.0;
            }
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

    /// [`super::Registry::provider_achieved`] with its totals, for the provider's page and
    /// the API; none for a provider not in the register.
    pub async fn provider_felt(
        &self,
        provider: &str,
        now: DateTime<Utc>,
        rates: Option<&StaffRates>,
    ) -> anyhow::Result<Option<ProviderFelt>> {
        let providers = self.providers().await?;
        let Some(p) = providers.iter().find(|p| p.code.as_str() == provider) else {
            return Ok(None);
        };
        let months = self.provider_achieved(provider, now, rates).await?;
        let sum = |f: fn(&MonthAchieved) -> f64| months.iter().map(f).sum::<f64>() + 0.0;
        let priced = |f: fn(&MonthAchieved) -> Option<f64>| {
            if months.is_empty() {
                rates.map(|_| 0.0)
            } else {
                months.iter().map(f).sum::<Option<f64>>()
            }
        };
        // The first arrivals kept with the burden records: reading them from the ledger
        // groups every run of every provider, on each view of one provider's page.
        let automated_since = self
            .burden_records()
            .await?
            .arrivals
            .iter()
            .filter(|a| a.provider == provider && a.arrived == Arrival::Pulled && a.at <= now)
            .map(|a| self.day(a.at))
            .min();
        Ok(Some(ProviderFelt {
            provider: provider.to_owned(),
            name: p.name.clone(),
            estimated_hours: sum(|m| m.estimated_hours),
            achieved_hours: sum(|m| m.achieved_hours),
            pulled_hours: sum(|m| m.pulled_hours),
            by_hand_hours: sum(|m| m.by_hand_hours),
            saved_hours: sum(|m| m.saved_hours),
            estimated_pounds: priced(|m| m.estimated_pounds),
            achieved_pounds: priced(|m| m.achieved_pounds),
            automated_since,
            months,
        }))
    }
}
