//! An extract that cannot be read in its format, or that breaks a limit: the provider's to
//! fix, as opposed to an error of the service's own.

use crate::landing::limits::OverLimit;

/// The extract cannot be read in its format, or breaks a limit: the provider's to fix, so
/// the run is rejected with this reason. Any other error (our own disk, say) fails the run,
/// to be tried again.
#[derive(Debug)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

pub(crate) fn unreadable(why: impl std::fmt::Display) -> anyhow::Error {
    Unreadable(why.to_string()).into()
}

impl From<OverLimit> for Unreadable {
    fn from(e: OverLimit) -> Unreadable {
        Unreadable(e.0)
    }
}
