//! How the scheduler keeps time: the clock a pull writes in the ledger, how long it holds
//! its claim, and how often the service steps.

use chrono::{DateTime, Duration, Utc};

/// How long a claim is held before another instance may take it over, unless the service is
/// told otherwise (`tally serve --lease-seconds`). Long enough for a slow source and a large
/// extract; short enough that a dead instance's runs are picked up within minutes.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How a pull keeps time in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Timing {
    /// `now` moved on by the time the pull takes: the service, and `tally pull`.
    #[default]
    Elapsed,
    /// `now` throughout: `tally demo`'s accelerated clock, whose retries, late arrivals and
    /// so its returns must not depend on how fast the machine pulls.
    Fixed,
}

impl Timing {
    /// The time in the ledger for something that began at `now` (wall clock: `started`).
    pub fn since(self, now: DateTime<Utc>, started: std::time::Instant) -> DateTime<Utc> {
        match self {
            Timing::Elapsed => now + Duration::from_std(started.elapsed()).unwrap_or_default(),
            Timing::Fixed => now,
        }
    }
}

/// How the scheduler keeps time: the clock its pulls write in the ledger, how long a pull
/// holds its claim, and how often the service steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub timing: Timing,
    /// How long a claim is held; renewed every third of it while the pull goes on, so that
    /// a run is let go only when its pull stopped without finishing: its instance killed,
    /// hung or cut off from the database, or the pull panicked.
    pub lease: std::time::Duration,
    /// How long the service waits between steps.
    pub every: std::time::Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            timing: Timing::Elapsed,
            lease: LEASE,
            every: std::time::Duration::from_secs(60),
        }
    }
}

/// The time in the ledger: `now` moved on as the pace says since the pull began.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    pub(super) timing: Timing,
    pub(super) now: DateTime<Utc>,
    pub(super) started: std::time::Instant,
}

impl Clock {
    pub(super) fn at(self) -> DateTime<Utc> {
        self.timing.since(self.now, self.started)
    }
}
