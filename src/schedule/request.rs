//! Whether a pull or an upload asked for by hand (`tally pull`, `tally upload`, the web form)
//! is one Tally would ever collect: a known provider, a period of the collection's own length
//! that is over, and a provider of a kind the collection asks. The scheduler never needs
//! this: it only fires obligations.

use chrono::{DateTime, Utc};

use super::period::Period;
use super::timetable::RunKey;
use crate::registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("there is no provider {0} in the provider registry")]
    UnknownProvider(String),
    #[error("{0}")]
    BadPeriod(String),
    #[error("{collection} collects {wanted} periods; {period} is a {got}")]
    WrongPeriodKind {
        collection: String,
        wanted: &'static str,
        period: String,
        got: &'static str,
    },
    #[error("{0} has not ended yet; a period is pulled once it is over")]
    NotEnded(String),
    #[error("{provider} is a {kind} and {collection} is asked only of: {asked}")]
    NotAsked {
        provider: String,
        kind: String,
        collection: String,
        asked: String,
    },
}

/// Checks a request by hand and gives the run it names. A collection that is not listed
/// passes here: whether it may be collected at all is the pull's own first question, so that
/// `tally pull` records the refusal; callers that must store nothing ask `require_listed`.
pub async fn by_hand(
    registry: &Registry,
    collection: &str,
    provider: &str,
    period: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<RunKey> {
    let period = Period::parse(period).map_err(RequestError::BadPeriod)?;
    let providers = registry.providers().await?;
    let Some(who) = providers.iter().find(|p| p.code.as_str() == provider) else {
        return Err(RequestError::UnknownProvider(provider.into()).into());
    };
    if let Ok(licensed) = registry.require_listed(collection, now).await {
        let def = &licensed.def;
        let kind = def.frequency.period;
        if period.kind() != kind {
            return Err(RequestError::WrongPeriodKind {
                collection: collection.into(),
                wanted: kind.adjective(),
                period: period.to_string(),
                got: period.kind().as_str(),
            }
            .into());
        }
        let today = now.with_timezone(&def.frequency.timezone).date_naive();
        if period.end() > today {
            return Err(RequestError::NotEnded(period.to_string()).into());
        }
        if !def.respondents.kinds.contains(&who.kind) {
            let asked: Vec<&str> = def.respondents.kinds.iter().map(|k| k.as_str()).collect();
            return Err(RequestError::NotAsked {
                provider: provider.into(),
                kind: who.kind.to_string(),
                collection: collection.into(),
                asked: asked.join(", "),
            }
            .into());
        }
    }
    Ok(RunKey {
        collection: collection.into(),
        provider: provider.into(),
        period,
    })
}
