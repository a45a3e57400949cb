//! Each provider's habits played out: when one extract reaches its source and what is
//! wrong with it (late, during an outage, unreadable, a bad row, a figure corrected later),
//! decided from the seed for each (provider, period), so the same seed plays the same.

use chrono::NaiveDate;

use super::estate::{CensusRow, Home, Rng, Trust, day_number};

const SALT_TIMING: u64 = 3;
const SALT_FAULTS: u64 = 4;

/// When, and how, one extract reaches its source: the timing and the faults of one
/// (provider, period), decided from the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Minutes after the period's end (local midnight) at which the extract is there.
    pub arrives_after: i64,
    /// The first extract is unreadable; a good one replaces it this many minutes later.
    pub broken_for: Option<i64>,
    /// Rows that break a rule, by ward index.
    pub bad_row: Option<usize>,
    /// A ward's occupied beds sent wrong; the correction is uploaded this many days later.
    pub mistake: Option<(usize, i64)>,
}

/// The day a flaky source's outage covers, and how many days it lasts from there: an
/// outage starts on a day with a small chance and runs one to three days.
pub fn outage_days_left(seed: u64, code: &str, day: NaiveDate) -> i64 {
    for back in 0..3 {
        let start = day - chrono::Days::new(back);
        let mut r = Rng::for_(seed, code, day_number(start), SALT_FAULTS + 10);
        if r.chance(0.06) {
            let len = i64::from(r.range(1, 3));
            if (back as i64) < len {
                return len - back as i64;
            }
        }
    }
    0
}

/// The plan for one daily census extract.
pub fn census_plan(seed: u64, t: &Trust, day: NaiveDate) -> Plan {
    let mut r = Rng::for_(seed, &t.code, day_number(day), SALT_TIMING);
    // Usually there between 06:00 and 08:30 the next morning, before the 09:00 pull.
    let mut arrives = 24 * 60 + 6 * 60 + i64::from(r.range(0, 150));
    if t.habits.late && r.chance(0.35) {
        arrives = 24 * 60 + 9 * 60 + i64::from(r.range(30, 12 * 60));
    }
    if t.habits.flaky {
        let left = outage_days_left(seed, &t.code, day);
        if left > 0 {
            // Sent when the system comes back, the morning after the outage ends.
            arrives = (left + 1) * 24 * 60 + 10 * 60 + i64::from(r.range(0, 120));
        }
    }
    let mut f = Rng::for_(seed, &t.code, day_number(day), SALT_FAULTS);
    let broken_for = (t.habits.broken && f.chance(0.10)).then(|| i64::from(f.range(120, 360)));
    let bad_row =
        (t.habits.bad_rows && f.chance(0.15)).then(|| (f.next() % t.wards.len() as u64) as usize);
    let mistake = (t.habits.amends && f.chance(0.15)).then(|| {
        (
            (f.next() % t.wards.len() as u64) as usize,
            i64::from(f.range(2, 5)),
        )
    });
    Plan {
        arrives_after: arrives,
        broken_for,
        bad_row,
        mistake,
    }
}

/// The plan for one care home's monthly snapshot (`None`: never sent).
pub fn home_plan(seed: u64, h: &Home, last_day: NaiveDate) -> Option<Plan> {
    if h.habits.silent {
        return None;
    }
    let mut r = Rng::for_(seed, &h.code, day_number(last_day), SALT_TIMING);
    // Care record systems send overnight on the 1st, before the 06:00 pull.
    let mut arrives = 24 * 60 + 30 + i64::from(r.range(0, 300));
    if h.habits.late && r.chance(0.5) {
        arrives = i64::from(r.range(2, 7)) * 24 * 60 + 9 * 60;
    }
    let mut f = Rng::for_(seed, &h.code, day_number(last_day), SALT_FAULTS);
    // A home whose figures do not add up corrects them by upload a few days later.
    let mistake = (h.habits.bad_rows && f.chance(0.4)).then(|| (0, i64::from(f.range(2, 4))));
    Some(Plan {
        arrives_after: arrives,
        broken_for: None,
        bad_row: None,
        mistake,
    })
}

/// The rows a trust sends for a day: as planned, with its mistake and bad row, or as
/// corrected (`corrected`), which is what an amendment carries.
pub fn census_sent(
    seed: u64,
    t: &Trust,
    day: NaiveDate,
    plan: &Plan,
    corrected: bool,
) -> Vec<CensusRow> {
    let mut rows = t.census(seed, day);
    if corrected {
        return rows;
    }
    if let Some((ward, _)) = plan.mistake {
        // A ward left at zero occupied: the sort of slip a correction fixes.
        rows[ward].occupied = 0;
    }
    if let Some(ward) = plan.bad_row {
        rows[ward].occupied = rows[ward].available + 3;
    }
    rows
}

/// A care home's snapshot as sent: with its mistake (beds that do not add up) or corrected.
pub fn home_sent(
    seed: u64,
    h: &Home,
    last_day: NaiveDate,
    plan: &Plan,
    corrected: bool,
) -> [u32; 4] {
    let mut s = h.snapshot(seed, last_day);
    if !corrected && plan.mistake.is_some() {
        s[1] = s[0] + 2;
    }
    s
}
