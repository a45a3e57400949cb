//! Where one provider stands, as its page tells it: the periods overdue (the deadline has
//! passed, nothing has landed, and the amendment window is still open), those due within a
//! week, and each period's runs gathered into one line. A pure function of the collections
//! in force, the provider's runs and the time, so tests drive it with explicit instants.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::timetable::{Schedule, period_for};
use crate::domain::definition::{Capture, CollectionDef};
use crate::domain::provider::Provider;
use crate::domain::{Arrival, Period, RunStatus};
use crate::registry::governance::Licensed;
use crate::registry::window::{closes, deadline};
use crate::store::runs::RunRow;

/// How far ahead "due this week" looks.
pub const WEEK: Duration = Duration::days(7);

/// The most periods of one collection looked back over: a daily collection's amendment
/// window is far shorter, and a page must stay quick.
const MOST_BACK: usize = 400;

/// One period owed, overdue or due soon.
#[derive(Debug, Clone)]
pub struct Owed {
    pub collection: String,
    pub title: String,
    pub licence: String,
    pub period: Period,
    pub deadline: DateTime<Utc>,
    /// After this nothing more is taken for the period.
    pub closes: DateTime<Utc>,
    /// Tally pulls it from the provider's source: the next scheduled pull of this period,
    /// if one is still to come. `None` with `pulled` false: the provider uploads it.
    pub next_pull: Option<DateTime<Utc>>,
    /// Whether Tally pulls it (the provider has a source for it).
    pub pulled: bool,
    /// Attempts so far, and the last one's status.
    pub attempts: usize,
    pub last: Option<RunStatus>,
    /// The collection takes a nil return, for a period with nothing to report.
    pub nil_return: bool,
    /// A manual form (capture `manual`): staff fill it in on its form, which may go by
    /// another route than Tally, so Tally cannot tell that one is late and never chases it.
    pub by_form: bool,
}

impl Owed {
    /// How late it is at `now`; zero before the deadline.
    pub fn late_by(&self, now: DateTime<Utc>) -> Duration {
        (now - self.deadline).max(Duration::zero())
    }
}

/// One period's runs, gathered: how many attempts, and where it ended.
#[derive(Debug, Clone)]
pub struct PeriodRuns {
    pub collection: String,
    pub period: String,
    pub attempts: usize,
    /// The newest run that landed, else the newest run.
    pub outcome: RunStatus,
    pub arrived: Arrival,
    /// The run whose outcome this is, for its report.
    pub run: i64,
    pub rows_accepted: Option<i64>,
    pub rows_rejected: Option<i64>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The newest attempt's note, when nothing landed.
    pub note: Option<String>,
    /// When the newest attempt began: the order the page lists periods in.
    pub latest: DateTime<Utc>,
}

impl PeriodRuns {
    /// Whether the period has landed: on time, late or corrected.
    pub fn landed(&self) -> bool {
        self.outcome.landed()
    }
}

#[derive(Debug, Default)]
pub struct Standing {
    /// Overdue, the oldest (whose window closes soonest) first.
    pub overdue: Vec<Owed>,
    /// Due within `WEEK`, soonest first; landed or not.
    pub week: Vec<Owed>,
}

/// What `provider` owes under `licensed` at `now`, given its runs. `has_source` says
/// whether Tally pulls a collection from it.
pub fn standing(
    licensed: &[&Licensed],
    provider: &Provider,
    runs: &[RunRow],
    has_source: impl Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> Standing {
    let mut by_period: BTreeMap<(&str, &str), Vec<&RunRow>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.provider == provider.code.as_str()) {
        by_period
            .entry((r.collection.as_str(), r.period.as_str()))
            .or_default()
            .push(r);
    }
    let mut out = Standing::default();
    for l in licensed {
        let def = &l.def;
        if !def.respondents.kinds.contains(&provider.kind) {
            continue;
        }
        let slug = def.slug.as_str();
        let pulled = has_source(slug);
        let schedule = Schedule::of(def);
        for p in walk(def, now) {
            let open = provider.opened_on.is_none_or(|d| d < p.end())
                && provider.closed_on.is_none_or(|d| d > p.first_day());
            if p.first_day() < l.effective_from {
                break;
            }
            let due = deadline(def, &p);
            if open && due <= now + WEEK {
                let period = p.to_string();
                let tried = by_period.get(&(slug, period.as_str()));
                let landed = tried.is_some_and(|rs| rs.iter().any(|r| r.status.landed()));
                // Only a period still to come, and not landed, has a pull to wait for: the
                // timetable is asked for no other (it is the costly part of a page).
                let next_pull = (pulled && due > now && !landed)
                    .then(|| {
                        schedule
                            .fires(now, closes(def, &p), 64)
                            .into_iter()
                            .find(|f| period_for(def.frequency.period, *f) == p)
                            .map(|f| f.with_timezone(&Utc))
                    })
                    .flatten();
                let owed = Owed {
                    collection: slug.to_owned(),
                    title: def.title.clone(),
                    licence: l.licence_number.clone(),
                    period: p,
                    deadline: due,
                    closes: closes(def, &p),
                    next_pull,
                    pulled,
                    attempts: tried.map_or(0, Vec::len),
                    last: tried
                        .and_then(|rs| rs.iter().max_by_key(|r| r.id))
                        .map(|r| r.status),
                    nil_return: def.nil_return,
                    by_form: def.capture == Capture::Manual,
                };
                if due <= now {
                    // Overdue is what Tally knows has not come: a form that may have gone
                    // another way is not.
                    if !landed && !owed.by_form {
                        out.overdue.push(owed);
                    }
                } else {
                    out.week.push(owed);
                }
            }
        }
    }
    out.overdue
        .sort_by(|a, b| (a.deadline, &a.title).cmp(&(b.deadline, &b.title)));
    out.week
        .sort_by(|a, b| (a.deadline, &a.title).cmp(&(b.deadline, &b.title)));
    out
}

/// The periods of `def` [`standing`] looks at, at `now`, newest first: from the one that
/// ends soonest after a week from now, back to the last whose amendment window is open.
fn walk(def: &CollectionDef, now: DateTime<Utc>) -> impl Iterator<Item = Period> + '_ {
    let today = now.with_timezone(&def.frequency.timezone).date_naive();
    let start = Period::containing(def.frequency.period, today + WEEK);
    std::iter::successors(Some(start), |p| Some(p.previous()))
        .take(MOST_BACK)
        .take_while(move |p| closes(def, p) > now)
}

/// The earliest period of `def` that [`standing`] can look at, at `now` (it may stop
/// sooner, at the day the collection came into force), if any: no run of an earlier
/// period changes where a provider stands.
pub fn earliest_walked(def: &CollectionDef, now: DateTime<Utc>) -> Option<Period> {
    walk(def, now).last()
}

/// The runs gathered by (collection, period), the period tried most recently first.
pub fn by_period(runs: &[RunRow]) -> Vec<PeriodRuns> {
    let mut groups: BTreeMap<(&str, &str), Vec<&RunRow>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.collection.as_str(), r.period.as_str()))
            .or_default()
            .push(r);
    }
    let mut out: Vec<PeriodRuns> = groups
        .into_iter()
        .filter_map(|((collection, period), rs)| {
            let newest = *rs.iter().max_by_key(|r| r.id)?;
            let shown = rs
                .iter()
                .filter(|r| r.status.landed())
                .max_by_key(|r| r.id)
                .copied()
                .unwrap_or(newest);
            Some(PeriodRuns {
                collection: collection.to_owned(),
                period: period.to_owned(),
                attempts: rs.len(),
                outcome: shown.status,
                arrived: shown.arrived,
                run: shown.id,
                rows_accepted: shown.rows_accepted,
                rows_rejected: shown.rows_rejected,
                finished_at: shown.finished_at,
                note: (!shown.status.landed())
                    .then(|| newest.error.clone())
                    .flatten(),
                latest: newest.started_at,
            })
        })
        .collect();
    out.sort_by(|a, b| b.latest.cmp(&a.latest).then(b.run.cmp(&a.run)));
    out
}

/// A run's note as a provider may read it: where a file lay on Tally's server is not theirs
/// to see, so a path keeps only its file's name. Addresses (`http://…`) are the provider's
/// own source and stay.
pub fn plain_note(note: &str) -> String {
    note.split(' ')
        .map(|word| {
            let bare = word.trim_end_matches([',', ';', ':', ')', '.']);
            let tail = &word[bare.len()..];
            if bare.starts_with('/') && bare[1..].contains('/') {
                let name = bare.rsplit('/').next().unwrap_or(bare);
                format!("{name}{tail}")
            } else if let Some(rest) = bare.strip_prefix('(')
                && rest.starts_with('/')
            {
                let name = rest.rsplit('/').next().unwrap_or(rest);
                format!("({name}{tail}")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::plain_note;

    #[test]
    fn a_note_keeps_a_file_name_but_not_where_it_lay() {
        assert_eq!(
            plain_note(
                "no extract at /srv/tally/sources/drop/ward-bed-census/RAF_2026-07-04.csv yet"
            ),
            "no extract at RAF_2026-07-04.csv yet"
        );
        assert_eq!(
            plain_note("cannot read (/data/x/y.xlsx): denied"),
            "cannot read (y.xlsx): denied"
        );
        assert_eq!(
            plain_note("GET http://127.0.0.1:80/a/b.csv answered 503"),
            "GET http://127.0.0.1:80/a/b.csv answered 503"
        );
        assert_eq!(plain_note("ratio 3/4 of rows"), "ratio 3/4 of rows");
    }
}
