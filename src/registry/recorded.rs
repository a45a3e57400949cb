//! The time providers say their submissions took. A recorded time replaces the estimate of
//! that period in the achieved burden, and the median of those recorded for a collection,
//! by the way the periods were sent, is shown to DAP beside the listing's minutes, so that a
//! renewal can correct them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RegistryError;
use super::achieved::How;
use crate::domain::definition::Capture;
use crate::domain::{Period, RunKey};

/// The most minutes one period's submission may be recorded as taking: a working week.
pub const MOST_MINUTES: f64 = 7.0 * 24.0 * 60.0;

/// What providers recorded for one way of sending a collection.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ObservedWay {
    pub how: How,
    /// Periods whose time was recorded.
    pub periods: u32,
    pub median_minutes: f64,
    /// What the listing estimates for a period sent this way.
    pub listed_minutes: f64,
}

/// The median of `values`, none when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

impl super::Registry {
    /// Records that `provider`'s submission of `collection` for `period` took `minutes`, as
    /// `by` says. Refused for a period the provider was not asked for or has sent nothing
    /// of, or a time that is not a number of minutes from more than 0 to a week.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_time(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        minutes: f64,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let by = super::require_words("who is recording the time", by)?;
        if !minutes.is_finite() || minutes <= 0.0 || minutes > MOST_MINUTES {
            return Err(RegistryError::Refused(format!(
                "the time must be a number of minutes, more than 0 and at most {MOST_MINUTES:.0} (a week)"
            ))
            .into());
        }
        let refuse = |m: String| -> anyhow::Error { RegistryError::Refused(m).into() };
        let records = self.burden_records().await?;
        let history = super::provider_burden::history_as_of(&records, DateTime::<Utc>::MAX_UTC);
        let Some((def, from, to)) = history
            .iter()
            .find(|(d, _, _)| d.slug.as_str() == collection)
        else {
            return Err(refuse(format!(
                "{collection:?} is not a collection that has been in force"
            )));
        };
        let who = records
            .providers
            .iter()
            .map(|(p, _)| p)
            .find(|p| p.code.as_str() == provider)
            .ok_or_else(|| refuse(format!("{provider:?} is not a registered provider")))?;
        if !def.respondents.kinds.contains(&who.kind) {
            return Err(refuse(format!("{provider} is not asked for {collection}")));
        }
        let period = Period::parse(period)
            .ok()
            .filter(|p| p.kind() == def.frequency.period)
            .ok_or_else(|| {
                refuse(format!(
                    "{period:?} is not a {} period of {collection}",
                    def.frequency.period.adjective()
                ))
            })?;
        // Owed: begun on or after the day it was first owed, ended before it stopped being
        // owed, and the provider open on its last day; the burden counts no other period.
        let last = period.end() - chrono::Days::new(1);
        if period.first_day() < *from || to.is_some_and(|t| last >= t) || !who.is_open_on(last) {
            return Err(refuse(format!(
                "{provider} did not owe {collection} for {period}, so there is no time of it to record"
            )));
        }
        let key = RunKey {
            collection: collection.into(),
            provider: provider.into(),
            period,
        };
        let sent = self.store().current_version(&key).await?.is_some();
        let ended = period.end() <= self.day(at);
        match def.capture {
            Capture::Automated if !sent => Err(refuse(format!(
                "nothing has been sent for {collection} {period}: record the time once it has"
            ))),
            Capture::Manual if !ended => Err(refuse(format!(
                "{collection} {period} has not ended: record the time once the form is filled in"
            ))),
            _ => {
                self.store()
                    .record_time(collection, provider, &period.to_string(), minutes, &by, at)
                    .await
            }
        }
    }

    /// For `collection`, the median time providers recorded over the year to `now`, by the
    /// way the periods were sent, beside the listing's minutes for each way.
    pub async fn observed(
        &self,
        collection: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<ObservedWay>> {
        let to = self.day(now) + chrono::Days::new(1);
        let from = to - chrono::Days::new(366);
        let (history, ledger) = self.achieved_ledger(from, to, now).await?;
        let Some((def, _, _)) = history
            .iter()
            .find(|(d, _, _)| d.slug.as_str() == collection)
        else {
            return Ok(Vec::new());
        };
        let b = &def.burden;
        let mut out = Vec::new();
        for (how, listed) in [
            (How::Pulled, b.automated_minutes),
            (How::Uploaded, b.manual_minutes),
            (How::Form, b.manual_minutes),
            (How::NilReturn, b.nil_minutes()),
        ] {
            let mut times: Vec<f64> = ledger
                .iter()
                .filter(|m| m.collection == collection && m.how == how)
                .filter_map(|m| m.recorded_minutes)
                .collect();
            if let Some(median) = median(&mut times) {
                out.push(ObservedWay {
                    how,
                    periods: times.len() as u32,
                    median_minutes: median,
                    listed_minutes: listed,
                });
            }
        }
        Ok(out)
    }
}
