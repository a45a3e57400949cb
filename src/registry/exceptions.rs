//! DAP's exceptions to the window a period may be sent in by hand. A collection is owed from
//! the day it was listed to the end of each period's amendment window; a provider that must
//! send a period outside it (data owed under an earlier form, a correction found months
//! later) may, only under an exception DAP grants with a reason, which lapses and is kept in
//! the register and the audit log.

use chrono::{DateTime, Duration, Utc};

use super::Registry;
use crate::domain::AuditOutcome;
use crate::domain::Period;
use crate::domain::RegistryError;
use crate::store::access::NewAudit;
use crate::store::exceptions::{NewException, WindowException};

/// How long an exception lasts unless DAP says otherwise, and at most.
pub const DEFAULT_DAYS: u32 = 30;
pub const MOST_DAYS: u32 = 90;

/// What DAP grants.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub collection: &'a str,
    pub provider: &'a str,
    pub first: &'a str,
    /// The last period it covers; the first alone when `None`.
    pub last: Option<&'a str>,
    /// Who at DAP grants it.
    pub by: &'a str,
    pub reason: &'a str,
    /// Days until it lapses.
    pub days: u32,
}

impl Registry {
    /// Records an exception for a listed collection and a registered provider, and audits
    /// it. Its periods must be of the collection's kind.
    pub async fn grant_exception(
        &self,
        g: &Grant<'_>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<WindowException> {
        let refused = |why: String| anyhow::Error::from(RegistryError::Refused(why));
        if g.by.trim().is_empty() || g.reason.trim().is_empty() {
            return Err(refused(
                "an exception needs who grants it and why, in words for the register".into(),
            ));
        }
        if !(1..=MOST_DAYS).contains(&g.days) {
            return Err(refused(format!(
                "an exception lasts from 1 to {MOST_DAYS} days, not {}",
                g.days
            )));
        }
        // Nothing but a slug and a code reaches the register's queries; the words kept
        // with the exception are stored as given, a NUL escaped.
        if crate::domain::definition::Slug::parse(g.collection).is_err() {
            return Err(refused(format!(
                "{:?} is not a collection's slug",
                g.collection.chars().take(60).collect::<String>()
            )));
        }
        if crate::domain::provider::ProviderCode::parse(g.provider).is_err() {
            return Err(refused(format!(
                "{:?} is not a provider's code",
                g.provider.chars().take(40).collect::<String>()
            )));
        }
        let licensed = self.require_listed(g.collection, now).await?;
        let kind = licensed.def.frequency.period;
        let parse = |p: &str| -> anyhow::Result<Period> {
            let period = Period::parse(p).map_err(|e| refused(e.into()))?;
            if period.kind() != kind {
                return Err(refused(format!(
                    "{} collects {} periods; {p} is a {}",
                    g.collection,
                    kind.adjective(),
                    period.kind().as_str()
                )));
            }
            Ok(period)
        };
        let first = parse(g.first)?;
        let last = match g.last {
            Some(l) => parse(l)?,
            None => first,
        };
        if last.first_day() < first.first_day() {
            return Err(refused(format!("{last} comes before {first}")));
        }
        let providers = self.providers().await?;
        if !providers.iter().any(|p| p.code.as_str() == g.provider) {
            return Err(refused(format!(
                "there is no provider {} in the provider register",
                g.provider
            )));
        }
        let new = NewException {
            collection: g.collection.into(),
            provider: g.provider.into(),
            first_period: first.to_string(),
            last_period: last.to_string(),
            granted_by: crate::store::access::storable(g.by.trim()),
            reason: crate::store::access::storable(g.reason.trim()),
            granted_at: now,
            lapses_at: now + Duration::days(i64::from(g.days)),
        };
        let store = self.store();
        let id = store.grant_exception(&new).await?;
        let periods = if first == last {
            first.to_string()
        } else {
            format!("{first} to {last}")
        };
        store
            .audit(&NewAudit {
                at: now,
                actor: new.granted_by.clone(),
                role: "dap".into(),
                action: "exception".into(),
                target: format!("{} {} {periods}", g.collection, g.provider),
                outcome: AuditOutcome::Done,
                detail: new.reason.clone(),
            })
            .await?;
        Ok(WindowException {
            id,
            collection: new.collection,
            provider: new.provider,
            first_period: new.first_period,
            last_period: new.last_period,
            granted_by: new.granted_by,
            reason: new.reason,
            granted_at: new.granted_at,
            lapses_at: new.lapses_at,
        })
    }
}
