//! When each extract reaches its source, and when providers upload by hand: the demo's
//! calendar of deliveries over its window, from each provider's plan.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::feeds::Form;
use super::plans::{self, Plan};
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum What {
    /// A trust's census for a day: `trusts[trust]`.
    Census { trust: usize, day: NaiveDate },
    /// A care home's monthly snapshot: `homes[home]`, the month's last day.
    Home { home: usize, last_day: NaiveDate },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    pub at: DateTime<Utc>,
    pub what: What,
    pub form: Form,
}

/// A local wall-clock time, `minutes` after midnight starting `day`, as an instant; a time
/// in the spring-forward gap is taken as the first instant after it.
pub fn local(tz: Tz, day: NaiveDate, minutes: i64) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight") + Duration::minutes(minutes);
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => local(tz, day, minutes + 60),
    }
}

/// Every delivery for a period that starts on or after `first` and that falls before `end`,
/// in time order (ties in a fixed order, so that every run plays the same).
pub fn deliveries(world: &World, tz: Tz, first: NaiveDate, end: DateTime<Utc>) -> Vec<Delivery> {
    let seed = world.seed;
    let mut out = Vec::new();
    let mut push = |at: DateTime<Utc>, what: What, form: Form| {
        if at < end {
            out.push(Delivery { at, what, form });
        }
    };
    let last = end.with_timezone(&tz).date_naive();
    for (i, t) in world.trusts.iter().enumerate() {
        let p = world.provider(&t.code);
        let mut day = first;
        while day < last {
            if p.is_open_on(day) {
                let plan = plans::census_plan(seed, t, day);
                let what = What::Census { trust: i, day };
                plan_deliveries(&plan, tz, day, what, &mut push);
            }
            day = day.succ_opt().expect("a later day");
        }
    }
    for (i, h) in world.homes.iter().enumerate() {
        let mut month = crate::domain::Period::containing(crate::domain::PeriodKind::Month, first);
        while month.first_day() < last {
            let last_day = month.end().pred_opt().expect("a month has days");
            let what = What::Home { home: i, last_day };
            let plan = plans::home_plan(seed, h, last_day);
            if h.feed == super::estate::Feed::ByHand {
                // Its manager uploads on the 5th, the afternoon before the deadline (the
                // midnight after it), once Tally's 09:00 reminder has come.
                if plan.is_some() {
                    let at = local(tz, last_day, 5 * 24 * 60 + 14 * 60);
                    push(at, what, Form::ByHand { corrected: false });
                }
            } else if let Some(plan) = plan {
                plan_deliveries(&plan, tz, last_day, what, &mut push);
            }
            month = month.next();
        }
    }
    out.sort_by_key(|d| {
        let (kind, who, day) = match d.what {
            What::Census { trust, day } => (0, trust, day),
            What::Home { home, last_day } => (1, home, last_day),
        };
        (d.at, kind, who, day)
    });
    out
}

/// The deliveries one plan makes for a period whose last day is `day`.
fn plan_deliveries(
    plan: &Plan,
    tz: Tz,
    day: NaiveDate,
    what: What,
    push: &mut impl FnMut(DateTime<Utc>, What, Form),
) {
    let arrives = local(tz, day, plan.arrives_after);
    match plan.broken_for {
        Some(minutes) => {
            push(arrives, what, Form::Unreadable);
            push(arrives + Duration::minutes(minutes), what, Form::AsSent);
        }
        None => push(arrives, what, Form::AsSent),
    }
    // A system down past the next day's deadline: staff send the figures by hand that
    // afternoon rather than leave the day missing.
    if matches!(what, What::Census { .. }) && plan.arrives_after >= 2 * 24 * 60 {
        push(
            local(tz, day, 24 * 60 + 14 * 60),
            what,
            Form::ByHand { corrected: false },
        );
    }
    if let Some((_, days)) = plan.mistake {
        let at = local(
            tz,
            day,
            plan.arrives_after.max(24 * 60) + days * 24 * 60 + 60,
        );
        push(at, what, Form::ByHand { corrected: true });
    }
}
