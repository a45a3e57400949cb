//! Whether a pull or an upload asked for by hand (`tally pull`, `tally upload`, the web form)
//! is one Tally would ever collect: a known provider, a period of the collection's own length
//! that is over, a provider of a kind the collection asks that was open during the period,
//! and a period inside the collection's window: from its effective date (a licence is not
//! retrospective, and providers get notice) to the end of the period's amendment window, unless DAP has granted an
//! exception. The scheduler never needs this: it only fires obligations, which keep to the
//! same rules (`timetable::due`).

use chrono::{DateTime, Utc};

use crate::domain::Period;
use crate::domain::RunKey;
use crate::domain::definition::CollectionDef;
use crate::domain::provider::Provider;
use crate::registry::Registry;
use crate::registry::window::closes;

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
    #[error("{provider} was not open during {period}{when}, so it owes nothing for it")]
    NotOpen {
        provider: String,
        period: String,
        when: String,
    },
    #[error(
        "{collection} is owed from {from}, the effective date DAP set when it listed it; {period} begins before that. \
         Nothing is taken for a period before then (a dry run tries a file without keeping it); \
         DAP may grant an exception for a period sent late"
    )]
    BeforeEffective {
        collection: String,
        from: String,
        period: String,
    },
    #[error(
        "the amendment window for {period} of {collection} closed on {closed}; \
         nothing more is taken for it unless DAP grants an exception"
    )]
    WindowClosed {
        collection: String,
        period: String,
        closed: String,
    },
}

/// A period of the collection's own length, or why not.
pub fn of_kind(def: &CollectionDef, period: &Period) -> Result<(), RequestError> {
    let kind = def.frequency.period;
    if period.kind() == kind {
        return Ok(());
    }
    Err(RequestError::WrongPeriodKind {
        collection: def.slug.to_string(),
        wanted: kind.adjective(),
        period: period.to_string(),
        got: period.kind().as_str(),
    })
}

/// A provider of a kind the collection asks, or why not.
pub fn asked_of(def: &CollectionDef, who: &Provider) -> Result<(), RequestError> {
    if def.respondents.kinds.contains(&who.kind) {
        return Ok(());
    }
    let asked: Vec<&str> = def.respondents.kinds.iter().map(|k| k.as_str()).collect();
    Err(RequestError::NotAsked {
        provider: who.code.to_string(),
        kind: who.kind.to_string(),
        collection: def.slug.to_string(),
        asked: asked.join(", "),
    })
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
    let period = Period::parse(period).map_err(|e| RequestError::BadPeriod(e.into()))?;
    let providers = registry.providers().await?;
    let Some(who) = providers.iter().find(|p| p.code.as_str() == provider) else {
        return Err(RequestError::UnknownProvider(provider.into()).into());
    };
    if let Ok(licensed) = registry.require_listed(collection, now).await {
        let def = &licensed.def;
        of_kind(def, &period)?;
        let today = now.with_timezone(&def.frequency.timezone).date_naive();
        if period.end() > today {
            return Err(RequestError::NotEnded(period.to_string()).into());
        }
        asked_of(def, who)?;
        // Open on some day of the period, as an obligation is (`timetable::due`).
        let open = who.opened_on.is_none_or(|d| d < period.end())
            && who.closed_on.is_none_or(|d| d > period.first_day());
        if !open {
            let when = match (who.opened_on, who.closed_on, &who.successor) {
                (_, Some(c), Some(s)) => format!(" (it closed on {c}; {s} took over)"),
                (_, Some(c), None) => format!(" (it closed on {c})"),
                (Some(o), None, _) => format!(" (it opened on {o})"),
                (None, None, _) => String::new(),
            };
            return Err(RequestError::NotOpen {
                provider: provider.into(),
                period: period.to_string(),
                when,
            }
            .into());
        }
        let tz = def.frequency.timezone;
        let from = licensed.effective_from;
        let closed = closes(def, &period);
        let outside = if period.first_day() < from {
            Some(RequestError::BeforeEffective {
                collection: collection.into(),
                from: from.format("%-d %B %Y").to_string(),
                period: period.to_string(),
            })
        } else if now > closed {
            Some(RequestError::WindowClosed {
                collection: collection.into(),
                period: period.to_string(),
                closed: closed
                    .with_timezone(&tz)
                    .format("%-d %B %Y at %H:%M")
                    .to_string(),
            })
        } else {
            None
        };
        if let Some(refusal) = outside
            && !excepted(registry, collection, provider, &period, now).await?
        {
            return Err(refusal.into());
        }
    }
    Ok(RunKey {
        collection: collection.into(),
        provider: provider.into(),
        period,
    })
}

/// Whether DAP has granted `provider` an exception, not yet lapsed, that covers `period`.
async fn excepted(
    registry: &Registry,
    collection: &str,
    provider: &str,
    period: &Period,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let granted = registry
        .store()
        .exceptions(Some((collection, provider)))
        .await?;
    Ok(granted.iter().any(|e| {
        let (Ok(first), Ok(last)) = (
            Period::parse(&e.first_period),
            Period::parse(&e.last_period),
        ) else {
            return false;
        };
        now < e.lapses_at && period.first_day() >= first.first_day() && period.end() <= last.end()
    }))
}
