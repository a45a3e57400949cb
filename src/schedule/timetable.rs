//! The timetable as a pure function: which pulls are due, given the obligations, what the
//! run ledger already holds and the time now. Nothing here sleeps or reads a clock, so tests
//! drive it across clock changes with explicit instants.
//!
//! Clock-change policy (DESIGN.md "Timetable semantics"): cron expressions are read in the
//! collection's timezone; a time in the spring-forward gap fires at the first instant after
//! the gap (croner does this), and a wall-clock time that occurs twice in the autumn fires
//! once, at its first occurrence (croner fires both, so `fires` drops the repeat).

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::definition::CollectionDef;
use crate::domain::provider::Provider;
use crate::domain::{Invalid, Period, PeriodKind, RunKey};
use crate::registry::window::{closes, deadline};

/// A parsed schedule: a cron expression read in a timezone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: Tz,
}

impl Schedule {
    pub fn new(expr: &str, tz: Tz) -> Result<Schedule, Invalid> {
        let cron = croner::Cron::from_str(expr).map_err(|e| {
            Invalid::new("cron", format!("\"{expr}\" is not a cron expression: {e}"))
        })?;
        Ok(Schedule { cron, tz })
    }

    /// A definition's schedule. Parsing a cron expression takes a cron library microseconds,
    /// and the scheduler, the notices and every provider's page ask for each listing's
    /// schedule again and again (3% of the demo's samples): each parse is kept.
    pub fn of(def: &CollectionDef) -> Schedule {
        static KEPT: crate::kept::Kept<(String, Tz), Schedule> = crate::kept::Kept::new();
        let key = (def.frequency.cron.clone(), def.frequency.timezone);
        KEPT.get(key, |(cron, tz)| {
            Schedule::new(cron, *tz).expect("a loaded definition's cron parses")
        })
    }

    /// Fire times in `(after, until]`, in the schedule's timezone, at most `limit` of them.
    pub fn fires(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Tz>> {
        // Start a little early so that a repeated autumn hour is recognised as a repeat even
        // when `after` falls inside it: the fold is at most an hour long.
        let from = self
            .tz
            .from_utc_datetime(&(after - Duration::hours(3)).naive_utc());
        let mut last_local: Option<NaiveDateTime> = None;
        let mut out = Vec::new();
        for t in self.cron.iter_after(from) {
            if t.with_timezone(&Utc) > until || out.len() >= limit {
                break;
            }
            let local = t.naive_local();
            // A wall-clock time at or before the last one is the autumn repeat: skip it.
            if last_local.is_some_and(|last| local <= last) {
                continue;
            }
            last_local = Some(local);
            if t.with_timezone(&Utc) > after {
                out.push(t);
            }
        }
        out
    }
}

/// The period a fire collects: the last whole period before the fire's local day, so a
/// 09:00 daily pull collects yesterday and a pull on 1 April collects the quarter to March.
pub fn period_for(kind: PeriodKind, fire: DateTime<Tz>) -> Period {
    Period::containing(kind, fire.date_naive()).previous()
}

/// One provider owing one listed collection.
#[derive(Debug, Clone)]
pub struct Obligation<'a> {
    pub def: &'a CollectionDef,
    pub provider: &'a Provider,
    /// The first day the collection may ask about: a licence is not retrospective, so
    /// periods that began before the collection was listed are not asked for.
    pub since: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueRun {
    pub key: RunKey,
    /// The fire that asked for it.
    pub fired_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    /// Past its deadline but inside the amendment window: it lands as late.
    pub late: bool,
}

/// Every run due at `now`: for each obligation, each fire whose period is still open (before
/// its amendment window closes), that the provider was open for and that `done` does not
/// hold. A fire missed while Tally was down is still due until its period closes, so
/// catch-up needs nothing more. Oldest periods first, at most `limit`.
pub fn due(
    obligations: &[Obligation],
    done: impl Fn(&RunKey) -> bool,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<DueRun> {
    // Fires depend only on the collection, so work them out once for all its providers.
    let mut periods: BTreeMap<&str, Vec<(Period, DateTime<Utc>)>> = BTreeMap::new();
    for o in obligations {
        periods.entry(o.def.slug.as_str()).or_insert_with(|| {
            let def = o.def;
            // A fire comes after the period it collects, within one period of its end, and a
            // period closes its deadline and amendment window after its end: fires older than
            // that collect only closed periods.
            let longest = match def.frequency.period {
                PeriodKind::Day => 1,
                PeriodKind::Week => 7,
                PeriodKind::Month => 31,
                PeriodKind::Quarter => 92,
                PeriodKind::Year => 366,
            };
            let reach = Duration::days(longest + 2)
                + def.deadline.duration()
                + def.amendment_window.duration();
            let most = usize::MAX;
            let mut seen = HashSet::new();
            Schedule::of(def)
                .fires(now - reach, now, most)
                .into_iter()
                .map(|f| (period_for(def.frequency.period, f), f.with_timezone(&Utc)))
                .filter(|(p, _)| closes(def, p) > now && seen.insert(*p))
                .collect()
        });
    }
    let mut out = Vec::new();
    for o in obligations {
        let p = o.provider;
        for (period, fired_at) in &periods[o.def.slug.as_str()] {
            let open = p.opened_on.is_none_or(|d| d < period.end())
                && p.closed_on.is_none_or(|d| d > period.first_day())
                && o.since.is_none_or(|d| period.first_day() >= d);
            let key = RunKey {
                collection: o.def.slug.to_string(),
                provider: p.code.to_string(),
                period: *period,
            };
            if open && !done(&key) {
                let deadline = deadline(o.def, period);
                out.push(DueRun {
                    key,
                    fired_at: *fired_at,
                    deadline,
                    closes: closes(o.def, period),
                    late: now > deadline,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.key.period.first_day(), &a.key).cmp(&(b.key.period.first_day(), &b.key)));
    out.truncate(limit);
    out
}
