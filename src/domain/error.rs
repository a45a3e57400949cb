//! What the register refuses, in words a DAP member or provider can act on: raised by the
//! registry and by the store beneath it, turned into status codes by the web.

/// A value from outside that is not what it must be (a slug, a provider's code or kind, a
/// period, a lag, an override, a role, a cron expression): which kind of value, and words
/// saying what was wrong and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub what: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(what: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            what,
            message: message.into(),
        }
    }
}

impl From<Invalid> for String {
    /// The words alone, for the lists of problems a file's reader gathers.
    fn from(e: Invalid) -> String {
        e.message
    }
}

/// What the registry refuses, in words a DAP member or provider can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("there is no collection \"{0}\" in the register")]
    NotFound(String),
    /// The register changed under the request, or the request does not fit its state.
    #[error("{0}")]
    Conflict(String),
    /// The request breaks a governance rule (a missing reason, a blocking finding).
    #[error("{0}")]
    Refused(String),
    /// A proposal cannot be listed: a creep check blocks it and DAP has not overridden it.
    #[error("{0}")]
    Blocked(String),
    /// The register changed between the checks and the decision; the decision is checked again.
    #[error("the register changed while this decision was being checked; run it again")]
    Stale,
    /// Rule 1: nothing is pulled, accepted or published unless it is listed and unexpired.
    #[error(
        "{slug} is not a licensed collection: {why}. Nothing is collected for it, and providers may ignore any request for it."
    )]
    NotLicensed { slug: String, why: String },
}
