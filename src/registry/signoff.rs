//! Sign-off of pulled periods. A period pulled from a provider's source counts as received
//! the moment it lands, but it is the provider's data, so the provider vouches for it:
//!
//! - by a **standing sign-off** of the collection: who gave it, for the periods that start
//!   on or after which day, until it is revoked (a version pulled before the revocation stays
//!   covered);
//! - or **period by period**, on its page or through the API, before the period's deadline
//!   (and until its amendment window closes). A newer version of a period is a new extract,
//!   signed off afresh unless a standing sign-off covers it.
//!
//! An upload or a nil return is the provider's own act and needs no sign-off. A pulled
//! period nobody has signed off is still received; the return's completeness names it as
//! unsigned. The burden model prices one sign-off a period either way.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::window::{closes, deadline, first_open};
use super::{Registry, RegistryError, require_words};
use crate::domain::{Arrival, Period, RunKey};
use crate::store::signoffs::{PulledFilter, PulledVersion, Standing};
use crate::store::versions::CurrentVersion;

/// How far from today a standing sign-off may start, either way: a mistyped year is refused
/// rather than signing off, or putting off, years of periods.
pub const MOST_DAYS_AWAY: u64 = 366;

/// The standing sign-off in `standing` that vouches for `v`, when one does.
pub fn covering<'a>(standing: &'a [Standing], v: &PulledVersion) -> Option<&'a Standing> {
    let first = Period::parse(&v.period).ok()?.first_day();
    standing.iter().find(|s| {
        s.collection == v.collection && s.provider == v.provider && s.covers(first, v.landed_at)
    })
}

/// Whether `v` is signed off: by itself, or by a standing sign-off.
pub fn signed(standing: &[Standing], v: &PulledVersion) -> bool {
    v.signed_at.is_some() || covering(standing, v).is_some()
}

/// A pulled period awaiting its provider's sign-off.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AwaitingSignOff {
    pub collection: String,
    /// The collection's title.
    pub title: String,
    pub period: String,
    /// The version to sign off: the period's current one.
    pub version: i64,
    pub landed_at: DateTime<Utc>,
    /// The period's submission deadline: sign it off by then.
    pub deadline: DateTime<Utc>,
    /// The end of its amendment window: after it the period can no longer be signed off.
    pub closes: DateTime<Utc>,
}

/// A provider's sign-offs: its standing sign-offs (revoked ones too) and the pulled periods
/// that still await its sign-off.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignOffs {
    pub standing: Vec<Standing>,
    /// Oldest deadline first; only periods still open to a sign-off.
    pub awaiting: Vec<AwaitingSignOff>,
    /// Collections the provider is asked for with no standing sign-off in force: (slug, title).
    #[schema(value_type = Vec<Vec<String>>)]
    pub may_stand: Vec<(String, String)>,
}

fn refused(m: String) -> anyhow::Error {
    RegistryError::Refused(m).into()
}

fn conflict(m: String) -> anyhow::Error {
    RegistryError::Conflict(m).into()
}

impl Registry {
    /// The version in force of `collection`; refused when none is.
    async fn in_force_def(&self, collection: &str) -> anyhow::Result<crate::store::VersionRow> {
        self.rows()
            .await?
            .in_force_of(collection)
            .cloned()
            .ok_or_else(|| refused(format!("{collection:?} is not a collection in force")))
    }

    /// `provider`'s sign-offs at `now`.
    pub async fn signoffs_of(
        &self,
        provider: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<SignOffs> {
        let standing = self.store().standing_signoffs(None, Some(provider)).await?;
        let kind = self
            .providers()
            .await?
            .iter()
            .find(|p| p.code.as_str() == provider)
            .map(|p| p.kind);
        let rows = self.rows().await?;
        let in_force: Vec<_> = rows.in_force().collect();
        // Each collection in force, from its earliest period still open to a sign-off:
        // the provider's history is not read. Period names sort in time only among one
        // kind, so a collection whose versions changed its frequency is read as before:
        // from two years ago (a period's name starts with the year it begins in, or the
        // year before for a financial quarter of January to March).
        let mut pulled = Vec::new();
        for d in &in_force {
            let named_as = d.definition.frequency.period;
            let first = if rows
                .versions(&d.slug)
                .iter()
                .all(|v| v.definition.frequency.period == named_as)
            {
                first_open(&d.definition, now).to_string()
            } else {
                (now.year() - 2).to_string()
            };
            pulled.extend(
                self.store()
                    .pulled_versions(&PulledFilter {
                        collection: Some(d.slug.clone()),
                        provider: Some(provider.to_owned()),
                        first: Some(first),
                        current: true,
                        ..PulledFilter::default()
                    })
                    .await?,
            );
        }
        let mut awaiting = Vec::new();
        for v in pulled.into_iter().filter(|v| !signed(&standing, v)) {
            let (Some(def), Ok(period)) = (
                in_force.iter().find(|d| d.slug == v.collection),
                Period::parse(&v.period),
            ) else {
                continue;
            };
            let def = &def.definition;
            let shut = closes(def, &period);
            if now > shut {
                continue;
            }
            awaiting.push(AwaitingSignOff {
                title: def.title.clone(),
                deadline: deadline(def, &period),
                closes: shut,
                collection: v.collection,
                period: v.period,
                version: v.version,
                landed_at: v.landed_at,
            });
        }
        awaiting.sort_by(|a, b| (a.deadline, &a.collection).cmp(&(b.deadline, &b.collection)));
        let may_stand = in_force
            .iter()
            .filter(|d| kind.is_some_and(|k| d.definition.respondents.kinds.contains(&k)))
            .filter(|d| {
                !standing
                    .iter()
                    .any(|s| s.in_force() && s.collection == d.slug)
            })
            .map(|d| (d.slug.clone(), d.definition.title.clone()))
            .collect();
        Ok(SignOffs {
            standing,
            awaiting,
            may_stand,
        })
    }

    /// Records `by`'s standing sign-off of `provider`'s `collection` for the periods that
    /// start on or after `from`: by default, the first day of the earliest period awaiting
    /// the provider's sign-off, so that it covers what waits; today when none does. Refused
    /// for a collection not in force or not asked of the provider, a day more than a year
    /// away, or while one is in force already.
    pub async fn give_standing(
        &self,
        provider: &str,
        collection: &str,
        from: Option<NaiveDate>,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Standing> {
        let by = require_words("who gives the sign-off", by)?;
        let def = self.in_force_def(collection).await?;
        let providers = self.providers().await?;
        let who = providers
            .iter()
            .find(|p| p.code.as_str() == provider)
            .ok_or_else(|| RegistryError::NotFound(format!("provider {provider}")))?;
        if !def.definition.respondents.kinds.contains(&who.kind) {
            return Err(refused(format!("{provider} is not asked for {collection}")));
        }
        let today = self.day(at);
        let from = match from {
            Some(day) => day,
            None => self
                .signoffs_of(provider, at)
                .await?
                .awaiting
                .iter()
                .filter(|a| a.collection == collection)
                .filter_map(|a| Period::parse(&a.period).ok())
                .map(|p| p.first_day())
                .min()
                .unwrap_or(today),
        };
        if from.abs_diff(today) > chrono::Days::new(MOST_DAYS_AWAY) {
            return Err(refused(format!(
                "a standing sign-off starts at most {MOST_DAYS_AWAY} days from today; {from} is further"
            )));
        }
        let Some(id) = self
            .store()
            .give_standing(collection, provider, from, &by, at)
            .await?
        else {
            let held = self
                .store()
                .standing_signoffs(Some(collection), Some(provider))
                .await?
                .into_iter()
                .find(Standing::in_force);
            return Err(conflict(match held {
                Some(s) => format!(
                    "{} gave a standing sign-off of {collection} from {} already; revoke it first to give another",
                    s.given_by, s.from_day
                ),
                None => format!(
                    "a standing sign-off of {collection} was given at the same time; look again"
                ),
            }));
        };
        Ok(Standing {
            id,
            collection: collection.to_owned(),
            provider: provider.to_owned(),
            from_day: from,
            given_by: by,
            given_at: at,
            revoked_by: None,
            revoked_at: None,
        })
    }

    /// Revokes `provider`'s standing sign-off of `collection`: periods pulled from `at` on
    /// await a sign-off each again.
    pub async fn revoke_standing(
        &self,
        provider: &str,
        collection: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Standing> {
        let by = require_words("who revokes the sign-off", by)?;
        let held = self
            .store()
            .standing_signoffs(Some(collection), Some(provider))
            .await?
            .into_iter()
            .find(Standing::in_force)
            .ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "standing sign-off of {collection} by {provider}: none is in force"
                ))
            })?;
        if !self
            .store()
            .revoke_standing(collection, provider, &by, at)
            .await?
        {
            return Err(conflict(format!(
                "the standing sign-off of {collection} was revoked at the same time; look again"
            )));
        }
        Ok(Standing {
            revoked_by: Some(by),
            revoked_at: Some(at),
            ..held
        })
    }

    /// Records that `by` signed off `version` of `provider`'s `collection` for `period`.
    /// Refused unless it is the period's current version, pulled from a source, not signed
    /// off already (nor covered by a standing sign-off), and its amendment window is open.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_period(
        &self,
        provider: &str,
        collection: &str,
        period: &str,
        version: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<PulledVersion> {
        let by = require_words("who signs the period off", by)?;
        let def = self.in_force_def(collection).await?.definition.0;
        let parsed = Period::parse(period)
            .ok()
            .filter(|p| p.kind() == def.frequency.period)
            .ok_or_else(|| {
                refused(format!(
                    "{period:?} is not a {} period of {collection}",
                    def.frequency.period.adjective()
                ))
            })?;
        let key = RunKey {
            collection: collection.into(),
            provider: provider.into(),
            period: parsed,
        };
        let current = self.store().current_version(&key).await?.ok_or_else(|| {
            RegistryError::NotFound(format!(
                "{collection} {period} from {provider}: nothing has landed to sign off"
            ))
        })?;
        let pulled = self
            .store()
            .pulled_versions(&PulledFilter {
                collection: Some(collection.to_owned()),
                provider: Some(provider.to_owned()),
                first: Some(period.to_owned()),
                last: Some(period.to_owned()),
                current: true,
            })
            .await?
            .into_iter()
            .next();
        let Some(v) = pulled.filter(|v| v.version == current.version) else {
            let how = self.store().run(current.run_id).await?.map(|r| r.arrived);
            return Err(refused(format!(
                "version {} of {collection} {period} was {}: sending it was the sign-off",
                current.version,
                match how {
                    Some(Arrival::Nil) => "declared a nil return",
                    _ => "uploaded by hand",
                }
            )));
        };
        if version > v.version {
            return Err(conflict(format!(
                "there is no version {version} of {collection} {period}: the current one is {}",
                v.version
            )));
        }
        if v.version != version {
            return Err(conflict(format!(
                "version {version} of {collection} {period} is no longer the current one: version {} was pulled since; look at it before signing it off",
                v.version
            )));
        }
        if let Some(signer) = &v.signed_by {
            return Err(conflict(format!(
                "version {version} of {collection} {period} was signed off already, by {signer}"
            )));
        }
        let standing = self
            .store()
            .standing_signoffs(Some(collection), Some(provider))
            .await?;
        if let Some(s) = covering(&standing, &v) {
            return Err(conflict(format!(
                "{collection} {period} is signed off already by the standing sign-off {} gave from {}",
                s.given_by, s.from_day
            )));
        }
        let shut = closes(&def, &parsed);
        if at > shut {
            return Err(refused(format!(
                "{collection} {period} closed to changes at {shut}; the returns keep it marked unsigned"
            )));
        }
        if !self
            .store()
            .sign_period(collection, provider, period, version, &by, at)
            .await?
        {
            return Err(conflict(format!(
                "{collection} {period} changed while it was being signed off (signed off by someone else, or a newer version landed); look at it again"
            )));
        }
        Ok(PulledVersion {
            signed_by: Some(by),
            signed_at: Some(at),
            ..v
        })
    }

    /// Of the versions of `collection` a build reads, those pulled and signed off by nobody,
    /// as (provider, period): completeness counts those of periods owed.
    pub async fn unsigned(
        &self,
        collection: &str,
        read: &[CurrentVersion],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let (Some(first), Some(last)) = (
            read.iter().map(|v| &v.period).min(),
            read.iter().map(|v| &v.period).max(),
        ) else {
            return Ok(Vec::new());
        };
        let pulled = self
            .store()
            .pulled_versions(&PulledFilter {
                collection: Some(collection.to_owned()),
                first: Some(first.clone()),
                last: Some(last.clone()),
                ..PulledFilter::default()
            })
            .await?;
        if pulled.is_empty() {
            return Ok(Vec::new());
        }
        let standing = self
            .store()
            .standing_signoffs(Some(collection), None)
            .await?;
        let read: HashSet<(&str, &str, i64)> = read
            .iter()
            .map(|v| (v.provider.as_str(), v.period.as_str(), v.version))
            .collect();
        Ok(pulled
            .iter()
            .filter(|v| read.contains(&(v.provider.as_str(), v.period.as_str(), v.version)))
            .filter(|v| !signed(&standing, v))
            .map(|v| (v.provider.clone(), v.period.clone()))
            .collect())
    }
}
