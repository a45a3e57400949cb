//! The providers' sign-off of what Tally pulls from them. Most returns leads give a
//! standing sign-off of their automated collection the day before it is owed; one provider
//! in ten signs each pulled period off on its page the morning after instead, and the first
//! of those never gets round to it, so the returns name its periods as unsigned.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::feeds::{CENSUS, HOMES};
use super::world::World;
use crate::registry::Registry;
use crate::registry::signoff::signed;
use crate::store::signoffs::PulledFilter;

/// Who signs off how.
#[derive(Debug, Default)]
pub struct Plan {
    /// Providers that sign each pulled period off, the morning after.
    pub each: Vec<String>,
    /// The provider that signs nothing off.
    pub never: Option<String>,
}

/// Gives the standing sign-offs at `at`, for the periods from `from`, and says who signs
/// off period by period.
pub async fn give(
    registry: &Registry,
    world: &World,
    from: NaiveDate,
    at: DateTime<Utc>,
) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let trusts = world.trusts.iter().map(|t| (t.code.as_str(), CENSUS));
    let homes = world.homes.iter().map(|h| (h.code.as_str(), HOMES));
    for (i, (code, collection)) in trusts.chain(homes).enumerate() {
        if i % 10 != 3 {
            let by = format!("Head of information, {code}");
            registry
                .give_standing(code, collection, Some(from), &by, at)
                .await?;
        } else if plan.never.is_none() {
            plan.never = Some(code.to_owned());
        } else {
            plan.each.push(code.to_owned());
        }
    }
    Ok(plan)
}

/// Signs off at `at` every period awaiting the sign-off of a provider in `each`; how many.
pub async fn sign_each(
    registry: &Registry,
    each: &[String],
    at: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut signed = 0;
    for code in each {
        let by = format!("Duty manager, {code}");
        for a in registry.signoffs_of(code, at).await?.awaiting {
            registry
                .sign_period(code, &a.collection, &a.period, a.version, &by, at)
                .await?;
            signed += 1;
        }
    }
    Ok(signed)
}

/// Sign-off when the demo stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignOff {
    /// Standing sign-offs in force.
    pub standing: usize,
    /// Providers signing period by period, and the periods they signed.
    pub each: usize,
    pub signed: usize,
    /// Current pulled versions nobody signed off, and from how many providers.
    pub unsigned: usize,
    pub unsigned_providers: usize,
}

/// How things stand: `signed` periods were signed off one by one by `each` providers.
pub async fn standing(
    registry: &Registry,
    each: usize,
    signed_each: usize,
) -> anyhow::Result<SignOff> {
    let standing = registry.store().standing_signoffs(None, None).await?;
    let pulled = registry
        .store()
        .pulled_versions(&PulledFilter {
            current: true,
            ..PulledFilter::default()
        })
        .await?;
    let unsigned: Vec<&str> = pulled
        .iter()
        .filter(|v| !signed(&standing, v))
        .map(|v| v.provider.as_str())
        .collect();
    let mut providers = unsigned.clone();
    providers.sort_unstable();
    providers.dedup();
    Ok(SignOff {
        standing: standing.iter().filter(|s| s.in_force()).count(),
        each,
        signed: signed_each,
        unsigned: unsigned.len(),
        unsigned_providers: providers.len(),
    })
}
