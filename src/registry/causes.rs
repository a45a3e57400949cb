//! Why the register's estimated burden moved. The estimate is replayed from the records,
//! one change at a time in the order they happened, and each step's difference in the
//! national total is put down to its cause (as OMB's inventory separates them):
//!
//! - **programme change**: a DAP decision: a collection listed, a new version of it
//!   listed that asks for something different, retired, or its licence ending;
//! - **adjustment**: the estimate corrected without the ask changing: a new version that
//!   changes only the burden figures (a re-estimate), a provider joining the register,
//!   opening or closing, or a provider found to send an automated collection by hand;
//! - **automation**: a provider's source went live (the first period pulled from it), so
//!   the provider signs off what it used to fill in.
//!
//! The steps add up: the estimate at the start plus every change is the estimate at the
//! end, which is the headline [`super::Registry::burden`] shows.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::burden::{CollectionBurden, estimate_counted};
use super::records::{Listing, Records};
use crate::domain::definition::CollectionDef;
use crate::domain::{Arrival, Step};

/// What moved the estimate.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    ProgrammeChange,
    Adjustment,
    Automation,
}

impl Cause {
    pub const ALL: [Cause; 3] = [Cause::ProgrammeChange, Cause::Adjustment, Cause::Automation];

    pub fn label(self) -> &'static str {
        match self {
            Cause::ProgrammeChange => "Programme change",
            Cause::Adjustment => "Adjustment",
            Cause::Automation => "Automation",
        }
    }
}

/// One collection's estimate moved on one day for one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub on: NaiveDate,
    pub cause: Cause,
    pub collection: String,
    pub title: String,
    /// What happened: `listed`, `3 providers joined the register`…
    pub what: String,
    /// Annual hours added (negative when taken away).
    pub hours: f64,
}

/// The estimate from one day to another, and every change between, by cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attribution {
    /// The estimate at the end of `from`, and at `to` (the instant the report is for).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start_hours: f64,
    pub end_hours: f64,
    pub programme_change_hours: f64,
    pub adjustment_hours: f64,
    pub automation_hours: f64,
    /// Oldest first.
    pub changes: Vec<Change>,
}

impl Attribution {
    pub fn hours(&self, cause: Cause) -> f64 {
        match cause {
            Cause::ProgrammeChange => self.programme_change_hours,
            Cause::Adjustment => self.adjustment_hours,
            Cause::Automation => self.automation_hours,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Listed(usize),
    Retired,
    Expired(i64),
    Registered(usize),
    /// A provider's opening or closing day begins.
    Roster(usize),
    // At one instant a pull is applied before an upload: a provider whose first of each
    // came together is automated, never by hand.
    Automated(usize),
    ByHand(usize),
}

#[derive(Debug, Clone)]
struct Event<'a> {
    at: DateTime<Utc>,
    slug: Option<&'a str>,
    kind: Kind,
}

/// The register's state while it is replayed. Each collection in force keeps counts of
/// its respondents and of those sending it by hand, moved one provider at a time, so that
/// an event costs the same however many providers there are.
struct State<'a> {
    records: &'a Records,
    /// The version in force of each collection, and (respondents, by hand) among them.
    in_force: BTreeMap<&'a str, (&'a Listing, u32, u32)>,
    registered: Vec<bool>,
    /// Registered and open on `day`.
    present: Vec<bool>,
    by_hand: HashSet<(&'a str, usize)>,
    automated: HashSet<(&'a str, usize)>,
    day: NaiveDate,
}

impl<'a> State<'a> {
    fn respondent(&self, listing: &Listing, i: usize) -> bool {
        self.present[i]
            && listing
                .def
                .respondents
                .kinds
                .contains(&self.records.providers[i].0.kind)
    }

    fn estimate(&self, slug: &str) -> Option<CollectionBurden> {
        let (listing, n, hand) = self.in_force.get(slug)?;
        Some(estimate_counted(
            &listing.def,
            listing.licence_number.as_deref(),
            *n,
            *hand,
        ))
    }

    fn hours(&self, slug: &str) -> f64 {
        self.estimate(slug).map_or(0.0, |b| b.annual_hours)
    }

    fn total(&self) -> f64 {
        self.in_force.keys().map(|s| self.hours(s)).sum::<f64>() + 0.0
    }

    /// Counts a listing's respondents afresh.
    fn count(&self, listing: &'a Listing) -> (&'a Listing, u32, u32) {
        let slug = listing.def.slug.as_str();
        let (mut n, mut hand) = (0, 0);
        for i in (0..self.present.len()).filter(|i| self.respondent(listing, *i)) {
            n += 1;
            hand += u32::from(self.by_hand.contains(&(slug, i)));
        }
        (listing, n, hand)
    }

    /// Provider `i` is now registered and open on `day`, or not.
    fn set_present(&mut self, i: usize) {
        let p = &self.records.providers[i].0;
        let now = self.registered[i] && p.is_open_on(self.day);
        if now == self.present[i] {
            return;
        }
        let slugs: Vec<&str> = self.in_force.keys().copied().collect();
        for slug in slugs {
            let hand = self.by_hand.contains(&(slug, i));
            let Some((listing, n, h)) = self.in_force.get_mut(slug) else {
                continue;
            };
            if !listing.def.respondents.kinds.contains(&p.kind) {
                continue;
            }
            if now {
                *n += 1;
                *h += u32::from(hand);
            } else {
                *n -= 1;
                *h -= u32::from(hand);
            }
        }
        self.present[i] = now;
    }

    /// Marks provider `i` as sending `slug` by hand (`true`) or from a source.
    fn set_by_hand(&mut self, slug: &'a str, i: usize, hand: bool) {
        let changed = if hand {
            !self.automated.contains(&(slug, i)) && self.by_hand.insert((slug, i))
        } else {
            self.automated.insert((slug, i));
            self.by_hand.remove(&(slug, i))
        };
        let counts = changed
            && self
                .in_force
                .get(slug)
                .is_some_and(|(l, _, _)| self.respondent(l, i));
        if counts && let Some((_, _, h)) = self.in_force.get_mut(slug) {
            if hand {
                *h += 1;
            } else {
                *h -= 1;
            }
        }
    }

    /// Applies one event: its cause, the collections whose estimate it may move, and what
    /// happened when it is a decision.
    fn apply(&mut self, e: &Event<'a>) -> (Cause, Vec<&'a str>, Option<String>) {
        let all = |s: &Self| s.in_force.keys().copied().collect::<Vec<_>>();
        let slug = e.slug.unwrap_or_default();
        match e.kind {
            Kind::Listed(i) => {
                let new = &self.records.listings[i];
                let counted = self.count(new);
                let old = self.in_force.insert(new.def.slug.as_str(), counted);
                let (cause, what) = match old {
                    None => (Cause::ProgrammeChange, "listed".to_owned()),
                    Some((old, _, _)) if reestimate(&old.def, &new.def) => (
                        Cause::Adjustment,
                        format!("re-estimated in version {}", new.version),
                    ),
                    Some(_) => (
                        Cause::ProgrammeChange,
                        format!("version {} listed", new.version),
                    ),
                };
                (cause, vec![new.def.slug.as_str()], Some(what))
            }
            Kind::Retired => {
                let was = self
                    .in_force
                    .remove(slug)
                    .map(|(l, ..)| l.def.slug.as_str());
                (
                    Cause::ProgrammeChange,
                    was.into_iter().collect(),
                    Some("retired".into()),
                )
            }
            Kind::Expired(version) => {
                let ends = self
                    .in_force
                    .get(slug)
                    .is_some_and(|(l, ..)| l.version == version);
                let was = ends
                    .then(|| {
                        self.in_force
                            .remove(slug)
                            .map(|(l, ..)| l.def.slug.as_str())
                    })
                    .flatten();
                (
                    Cause::ProgrammeChange,
                    was.into_iter().collect(),
                    Some("licence ended".into()),
                )
            }
            Kind::Registered(i) => {
                self.registered[i] = true;
                self.set_present(i);
                (Cause::Adjustment, all(self), None)
            }
            Kind::Roster(i) => {
                self.set_present(i);
                (Cause::Adjustment, all(self), None)
            }
            Kind::ByHand(i) => {
                self.set_by_hand(slug, i, true);
                (Cause::Adjustment, vec![slug], None)
            }
            Kind::Automated(i) => {
                self.set_by_hand(slug, i, false);
                (Cause::Automation, vec![slug], None)
            }
        }
    }
}

/// A new version that asks the same of the same providers and changes only what the
/// listing estimates (minutes, respondents expected), perhaps with its wording: a
/// re-estimate, not a programme change.
fn reestimate(old: &CollectionDef, new: &CollectionDef) -> bool {
    let strip = |d: &CollectionDef| {
        let mut d = d.clone();
        (d.title, d.purpose, d.sponsor, d.legal_basis) = Default::default();
        (d.licence_term_months, d.notice_days) = (0, 0);
        d.retires.clear();
        let b = &mut d.burden;
        (b.manual_minutes, b.automated_minutes) = (0.0, 0.0);
        (b.nil_minutes, b.fix_minutes, b.staff_group) = (None, None, None);
        d.respondents.estimated = 0;
        d
    };
    strip(old) == strip(new)
}

/// Midnight at the start of `day` where the register keeps its dates.
fn start_of(day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    midnight
        .and_local_timezone(tz)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

fn events(records: &Records) -> Vec<Event<'_>> {
    let tz = records.tz;
    let mut out = Vec::new();
    for (i, l) in records.listings.iter().enumerate() {
        let slug = Some(l.def.slug.as_str());
        out.push(Event {
            at: l.listed_at,
            slug,
            kind: Kind::Listed(i),
        });
        if let Some(at) = l.expires_at {
            out.push(Event {
                at,
                slug,
                kind: Kind::Expired(l.version),
            });
        }
    }
    for d in records
        .decisions
        .iter()
        .filter(|d| d.action == Step::Retire)
    {
        out.push(Event {
            at: d.at,
            slug: Some(&d.slug),
            kind: Kind::Retired,
        });
    }
    let index: std::collections::HashMap<&str, usize> = records
        .providers
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p.code.as_str(), i))
        .collect();
    for (i, (p, registered)) in records.providers.iter().enumerate() {
        if let Some(at) = registered {
            out.push(Event {
                at: *at,
                slug: None,
                kind: Kind::Registered(i),
            });
        }
        for day in [p.opened_on, p.closed_on].into_iter().flatten() {
            out.push(Event {
                at: start_of(day, tz),
                slug: None,
                kind: Kind::Roster(i),
            });
        }
    }
    for a in &records.arrivals {
        let Some(&i) = index.get(a.provider.as_str()) else {
            continue;
        };
        let kind = match a.arrived {
            Arrival::Pulled => Kind::Automated(i),
            Arrival::Uploaded => Kind::ByHand(i),
            Arrival::Nil => continue,
        };
        out.push(Event {
            at: a.at,
            slug: Some(a.collection.as_str()),
            kind,
        });
    }
    // In time order; at one instant, in the order of `Kind`.
    out.sort_by_key(|e| (e.at, e.kind));
    out
}

/// The state of the register at `at`, and how many of `events` it replayed.
fn replay<'a>(records: &'a Records, events: &[Event<'a>], at: DateTime<Utc>) -> (State<'a>, usize) {
    let tz = records.tz;
    let first_day = events
        .first()
        .map_or(at, |e| e.at.min(at))
        .with_timezone(&tz)
        .date_naive();
    let registered: Vec<bool> = records.providers.iter().map(|(_, r)| r.is_none()).collect();
    let mut state = State {
        records,
        in_force: BTreeMap::new(),
        present: records
            .providers
            .iter()
            .zip(&registered)
            .map(|((p, _), r)| *r && p.is_open_on(first_day))
            .collect(),
        registered,
        by_hand: HashSet::new(),
        automated: HashSet::new(),
        day: first_day,
    };
    let upto = events.partition_point(|e| e.at <= at);
    for e in &events[..upto] {
        state.day = e.at.with_timezone(&tz).date_naive();
        state.apply(e);
    }
    state.day = at.with_timezone(&tz).date_naive();
    (state, upto)
}

/// Each collection in force at `at` and its estimate then, as the headline shows it.
pub fn estimate_at(records: &Records, at: DateTime<Utc>) -> Vec<CollectionBurden> {
    estimate_span(records, at).0
}

/// [`estimate_at`], and from and until when it holds: from the last of the replay's events
/// at or before `at`, to the first after it (none: no such event). The estimate is what the
/// events up to `at` make it, so it cannot change between two of them.
pub fn estimate_span(records: &Records, at: DateTime<Utc>) -> (Vec<CollectionBurden>, Span) {
    let events = events(records);
    let (state, upto) = replay(records, &events, at);
    let estimate = state
        .in_force
        .keys()
        .filter_map(|s| state.estimate(s))
        .collect();
    let from = upto.checked_sub(1).map(|i| events[i].at);
    (estimate, (from, events.get(upto).map(|e| e.at)))
}

/// From and until when an estimate holds; none: from the beginning, or for ever.
pub type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The estimate at the end of `from` and at `to`, and each change between by cause.
pub fn attribute(records: &Records, from: NaiveDate, to: DateTime<Utc>) -> Attribution {
    let tz = records.tz;
    let events = events(records);
    let start = start_of(from + chrono::Days::new(1), tz) - chrono::Duration::nanoseconds(1);
    let (mut state, first) = replay(records, &events, start.min(to));
    let start_hours = state.total();
    let upto = events.partition_point(|e| e.at <= to);
    // Changes by (day, cause, collection), with what happened and how often.
    let mut steps: BTreeMap<(NaiveDate, Cause, &str), DayStep> = BTreeMap::new();
    for e in events.get(first..upto).unwrap_or_default() {
        let day = e.at.with_timezone(&tz).date_naive();
        let moves: Vec<&str> = match e.kind {
            Kind::Listed(i) => vec![records.listings[i].def.slug.as_str()],
            Kind::Registered(_) | Kind::Roster(_) => state.in_force.keys().copied().collect(),
            _ => vec![e.slug.unwrap_or_default()],
        };
        let before: Vec<f64> = moves.iter().map(|s| state.hours(s)).collect();
        state.day = day;
        let (cause, moved, what) = state.apply(e);
        for (slug, was) in moves.iter().zip(before) {
            let delta = state.hours(slug) - was;
            if delta.abs() < 1e-9 || !moved.contains(slug) {
                continue;
            }
            let words = what
                .clone()
                .map_or_else(|| provider_words(&e.kind, records, day), |w| (w.clone(), w));
            let step = steps.entry((day, cause, *slug)).or_default();
            step.0 += delta;
            *step.1.entry(words).or_default() += 1;
        }
    }
    let end_hours = {
        state.day = to.with_timezone(&tz).date_naive();
        state.total()
    };
    // Each collection's title as last listed by `to`.
    let mut listed: Vec<&Listing> = records
        .listings
        .iter()
        .filter(|l| l.listed_at <= to)
        .collect();
    listed.sort_by_key(|l| l.listed_at);
    let titles: BTreeMap<&str, &str> = listed
        .iter()
        .map(|l| (l.def.slug.as_str(), l.def.title.as_str()))
        .collect();
    let changes: Vec<Change> = steps
        .into_iter()
        .filter(|(_, (h, _))| h.abs() >= 1e-9)
        .map(|((on, cause, slug), (hours, what))| Change {
            on,
            cause,
            collection: slug.to_owned(),
            title: titles.get(slug).copied().unwrap_or(slug).to_owned(),
            what: what
                .into_iter()
                .map(|((one, many), n)| match n {
                    1 => one,
                    n => many.replace('#', &n.to_string()),
                })
                .collect::<Vec<_>>()
                .join("; "),
            hours,
        })
        .collect();
    let by = |cause: Cause| {
        changes
            .iter()
            .filter(|c| c.cause == cause)
            .map(|c| c.hours)
            .sum::<f64>()
            + 0.0
    };
    Attribution {
        from,
        to: to.with_timezone(&tz).date_naive(),
        start_hours,
        end_hours,
        programme_change_hours: by(Cause::ProgrammeChange),
        adjustment_hours: by(Cause::Adjustment),
        automation_hours: by(Cause::Automation),
        changes,
    }
}

/// One collection's change on one day for one cause: its hours, and what happened, in
/// words for one and for several (`#` for how many), with how often.
type DayStep = (f64, BTreeMap<(String, String), u32>);

/// What one provider's event was, for one and for several (`#` for how many).
fn provider_words(kind: &Kind, records: &Records, day: NaiveDate) -> (String, String) {
    let (one, many) = match *kind {
        Kind::Registered(_) => (
            "1 provider joined the register",
            "# providers joined the register",
        ),
        Kind::Roster(i) if records.providers[i].0.closed_on == Some(day) => {
            ("1 provider closed", "# providers closed")
        }
        Kind::Roster(_) => ("1 provider opened", "# providers opened"),
        Kind::ByHand(_) => ("1 provider sends it by hand", "# providers send it by hand"),
        Kind::Automated(_) => (
            "1 provider's source went live",
            "# providers' sources went live",
        ),
        Kind::Listed(_) | Kind::Retired | Kind::Expired(_) => ("", ""),
    };
    (one.to_owned(), many.to_owned())
}

/// The estimate at the end of each day it moved on, up to `to`, and at `to` itself: the
/// steps the progress chart draws.
pub fn history(records: &Records, to: DateTime<Utc>) -> Vec<(NaiveDate, f64)> {
    let tz = records.tz;
    // Nothing moves the estimate before the first listing.
    let Some(first) = records.listings.iter().map(|l| l.listed_at).min() else {
        return vec![(to.with_timezone(&tz).date_naive(), 0.0)];
    };
    let before = first.with_timezone(&tz).date_naive() - chrono::Days::new(1);
    let a = attribute(records, before, to);
    let mut out: Vec<(NaiveDate, f64)> = Vec::new();
    let mut total = a.start_hours;
    for c in &a.changes {
        total += c.hours;
        match out.last_mut() {
            Some((on, h)) if *on == c.on => *h = total,
            _ => out.push((c.on, total)),
        }
    }
    out.retain(|(on, _)| *on < a.to);
    out.push((a.to, a.end_hours));
    out
}

impl super::Registry {
    /// The estimate at the end of `from` and at `to`, and each change between by cause.
    pub async fn attribution(
        &self,
        from: NaiveDate,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Attribution> {
        Ok(attribute(&*self.burden_records().await?, from, to))
    }

    /// The register's estimated annual burden as it stood at the end of each day it moved
    /// on, up to `at`.
    pub async fn burden_history(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<(NaiveDate, f64)>> {
        Ok(history(&*self.burden_records().await?, at))
    }
}
