//! A period's window: when its submission is due (the end of the period plus the
//! collection's deadline, in its timezone) and when it closes (after the amendment window),
//! as the timetable, landing, uploads and completeness all read them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::Period;
use crate::domain::definition::CollectionDef;

/// Midnight at the start of `day` in `tz` (or the first instant after it, on a day whose
/// midnight a clock change skips).
fn local_midnight(tz: Tz, day: chrono::NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .expect("an hour after a gap exists")
            .with_timezone(&Utc),
    }
}

/// When a period's submission is due: the end of the period plus the collection's deadline.
pub fn deadline(def: &CollectionDef, period: &Period) -> DateTime<Utc> {
    local_midnight(def.frequency.timezone, period.end()) + def.deadline.duration()
}

/// When a period closes: after its deadline and amendment window nothing more is pulled.
pub fn closes(def: &CollectionDef, period: &Period) -> DateTime<Utc> {
    deadline(def, period) + def.amendment_window.duration()
}

/// The earliest period of `def` still open at `now`, or the one containing `now` when none
/// before it is: every earlier period has closed, since windows close in period order.
pub fn first_open(def: &CollectionDef, now: DateTime<Utc>) -> Period {
    let today = now.with_timezone(&def.frequency.timezone).date_naive();
    let mut p = Period::containing(def.frequency.period, today);
    // A window is weeks or months long, so the walk is short; bounded all the same.
    for _ in 0..1_000 {
        let before = p.previous();
        if closes(def, &before) < now {
            break;
        }
        p = before;
    }
    p
}
