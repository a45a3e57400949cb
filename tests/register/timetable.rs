//! The timetable across the 2026 clock changes in Europe/London, and `due` as a pure
//! function of obligations, ledger and now.

use crate::common;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Europe::London;
use tally::domain::Period;
use tally::domain::PeriodKind;
use tally::domain::RunKey;
use tally::domain::provider::{Provider, ProviderCode, ProviderKind};
use tally::schedule::timetable::{Obligation, Schedule, due, period_for};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fires_utc(expr: &str, from: &str, to: &str) -> Vec<String> {
    Schedule::new(expr, London)
        .unwrap()
        .fires(utc(from), utc(to), 10_000)
        .iter()
        .map(|t| t.with_timezone(&Utc).format("%m-%d %H:%MZ").to_string())
        .collect()
}

#[test]
fn a_time_in_the_spring_gap_fires_at_the_first_instant_after_it() {
    // 01:30 does not exist in London on 29 March 2026: it fires at 02:00 BST (01:00 UTC).
    assert_eq!(
        fires_utc("30 1 * * *", "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
        ["03-28 01:30Z", "03-29 01:00Z", "03-30 00:30Z"]
    );
}

#[test]
fn a_time_that_occurs_twice_in_the_autumn_fires_once() {
    // 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT) on 25 October 2026.
    assert_eq!(
        fires_utc("30 1 * * *", "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
        ["10-25 00:30Z", "10-26 01:30Z"]
    );
    // Starting inside the repeated hour does not bring the repeat back.
    assert!(fires_utc("30 1 * * *", "2026-10-25T01:00:00Z", "2026-10-25T23:00:00Z").is_empty());
}

#[test]
fn hourly_and_half_hourly_schedules_keep_to_the_policy() {
    let spring_hourly = fires_utc("0 * * * *", "2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z");
    // 00:00 GMT is at the start bound (excluded); 01:00 falls in the gap and becomes 02:00 BST.
    assert_eq!(
        spring_hourly,
        ["03-29 01:00Z", "03-29 02:00Z", "03-29 03:00Z"]
    );
    let autumn_hourly = fires_utc("0 * * * *", "2026-10-24T23:30:00Z", "2026-10-25T03:00:00Z");
    // 01:00 BST (00:00 UTC) fires; 01:00 GMT (01:00 UTC) is its repeat and does not.
    assert_eq!(
        autumn_hourly,
        ["10-25 00:00Z", "10-25 02:00Z", "10-25 03:00Z"]
    );
    let spring_half = fires_utc(
        "*/30 * * * *",
        "2026-03-29T00:00:00Z",
        "2026-03-29T02:00:00Z",
    );
    assert_eq!(
        spring_half,
        [
            "03-29 00:30Z",
            "03-29 01:00Z",
            "03-29 01:30Z",
            "03-29 02:00Z"
        ]
    );
    let autumn_half = fires_utc(
        "*/30 * * * *",
        "2026-10-24T23:45:00Z",
        "2026-10-25T02:00:00Z",
    );
    assert_eq!(
        autumn_half,
        ["10-25 00:00Z", "10-25 00:30Z", "10-25 02:00Z"]
    );
}

#[test]
fn a_year_of_daily_and_half_hourly_fires_misses_and_doubles_nothing() {
    for (expr, per_day) in [("0 9 * * *", 1), ("30 1 * * *", 1), ("*/30 * * * *", 48)] {
        let fires = Schedule::new(expr, London).unwrap().fires(
            utc("2025-12-31T23:59:00Z"),
            utc("2026-12-31T23:59:00Z"),
            100_000,
        );
        let mut by_day: BTreeMap<NaiveDate, Vec<DateTime<chrono_tz::Tz>>> = BTreeMap::new();
        for f in &fires {
            by_day.entry(f.date_naive()).or_default().push(*f);
        }
        assert_eq!(by_day.len(), 365, "{expr}: every local day has fires");
        for (day, list) in &by_day {
            let expected = match (expr, day.to_string().as_str()) {
                // Half-hourly loses the two gap times in spring (both become 02:00) and
                // keeps the repeated hour once in autumn.
                ("*/30 * * * *", "2026-03-29") => 46,
                (_, _) => per_day,
            };
            assert_eq!(list.len(), expected, "{expr} on {day}");
        }
        let mut sorted = fires.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), fires.len(), "{expr}: no instant twice");
    }
}

#[test]
fn each_fire_collects_the_last_whole_period() {
    let at = |s: &str| utc(s).with_timezone(&London);
    assert_eq!(
        period_for(PeriodKind::Day, at("2026-03-29T08:00:00Z")).to_string(),
        "2026-03-28"
    );
    assert_eq!(
        period_for(PeriodKind::Month, at("2026-12-01T06:00:00Z")).to_string(),
        "2026-11"
    );
    assert_eq!(
        period_for(PeriodKind::Quarter, at("2026-04-01T08:00:00Z")).to_string(),
        "2025-26-Q4"
    );
    assert_eq!(
        period_for(PeriodKind::Week, at("2026-11-30T09:00:00Z")).to_string(),
        "2026-W48"
    );
    assert_eq!(
        period_for(PeriodKind::Year, at("2026-04-01T09:00:00Z")).to_string(),
        "2025-26"
    );
    // After the clocks go back, 23:30 UTC on 31 October is still 31 October in London.
    assert_eq!(
        period_for(PeriodKind::Day, at("2026-10-31T23:30:00Z")).to_string(),
        "2026-10-30"
    );
}

fn provider(code: &str, closed: Option<&str>) -> Provider {
    Provider {
        code: ProviderCode::parse(code).unwrap(),
        name: code.into(),
        kind: ProviderKind::AcuteTrust,
        region: "London".into(),
        icb: None,
        local_authority: None,
        opened_on: None,
        closed_on: closed.map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()),
        successor: None,
    }
}

#[test]
fn due_runs_cover_open_periods_oldest_first_and_skip_the_ledger() {
    let census = common::load("ward-bed-census").def; // daily 09:00, due 12h after, 28d window
    let a = provider("RXA", None);
    let b = provider("RXB", Some("2026-11-20"));
    let obligations = [
        Obligation {
            def: &census,
            provider: &a,
            since: None,
        },
        Obligation {
            def: &census,
            provider: &b,
            since: None,
        },
    ];
    let now = utc("2026-11-25T10:00:00Z");
    let runs = due(&obligations, |_| false, now, 10_000);
    let for_a: Vec<String> = runs
        .iter()
        .filter(|r| r.key.provider == "RXA")
        .map(|r| r.key.period.to_string())
        .collect();
    // A day closes 12 h + 28 days after it ends: 2026-10-27 closes at 12:00 on 25 November,
    // two hours after now, so it is the oldest still due.
    assert_eq!(for_a.first().map(String::as_str), Some("2026-10-27"));
    assert_eq!(for_a.last().map(String::as_str), Some("2026-11-24"));
    assert_eq!(for_a.len(), 29);
    // RXB closed on 20 November: nothing after 19 November.
    let last_b = runs
        .iter()
        .filter(|r| r.key.provider == "RXB")
        .map(|r| r.key.period)
        .max()
        .unwrap();
    assert_eq!(last_b.to_string(), "2026-11-19");
    // Yesterday is not yet late (due at 12:00 today); the day before is.
    let yesterday = runs
        .iter()
        .find(|r| r.key.provider == "RXA" && r.key.period.to_string() == "2026-11-24")
        .unwrap();
    assert!(!yesterday.late);
    assert_eq!(yesterday.deadline, utc("2026-11-25T12:00:00Z"));
    assert!(
        runs.iter()
            .find(|r| r.key.period.to_string() == "2026-11-23")
            .unwrap()
            .late
    );
    // Oldest first.
    let days: Vec<NaiveDate> = runs.iter().map(|r| r.key.period.first_day()).collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]));

    // What the ledger holds is not due again; the limit bounds a catch-up.
    let done: HashSet<RunKey> = runs
        .iter()
        .filter(|r| r.key.provider == "RXA")
        .map(|r| r.key.clone())
        .collect();
    let rest = due(&obligations, |k| done.contains(k), now, 10_000);
    assert!(rest.iter().all(|r| r.key.provider == "RXB"));
    assert_eq!(due(&obligations, |_| false, now, 5).len(), 5);
    // A day later, one more period is due and the oldest has closed.
    let tomorrow = due(
        &obligations[..1],
        |_| false,
        now + Duration::days(1),
        10_000,
    );
    assert_eq!(
        tomorrow.first().unwrap().key.period.to_string(),
        "2026-10-28"
    );
    assert_eq!(
        tomorrow.last().unwrap().key.period.to_string(),
        "2026-11-25"
    );
    // Before today's 09:00 fire, yesterday is not yet asked for.
    let early = due(
        &obligations[..1],
        |_| false,
        utc("2026-11-25T08:00:00Z"),
        10_000,
    );
    assert_eq!(early.last().unwrap().key.period.to_string(), "2026-11-23");
}

#[test]
fn a_quarterly_return_is_due_from_the_first_fire_after_the_quarter() {
    let kh03 = common::load("kh03-manual").def; // 09:00 on 1 Jan, Apr, Jul, Oct; due 28d later
    let a = provider("RXA", None);
    let o = [Obligation {
        def: &kh03,
        provider: &a,
        since: None,
    }];
    let runs = due(&o, |_| false, utc("2026-11-25T10:00:00Z"), 100);
    let periods: Vec<String> = runs.iter().map(|r| r.key.period.to_string()).collect();
    // Q2 (to September) was asked for on 1 October and is open until 28 + 56 days after.
    assert_eq!(periods, ["2026-27-Q2"]);
    assert!(runs[0].late);
    assert_eq!(runs[0].key.period, Period::parse("2026-27-Q2").unwrap());
}

#[test]
fn a_licence_is_not_retrospective() {
    let census = common::load("ward-bed-census").def;
    let a = provider("RXA", None);
    let since = NaiveDate::from_ymd_opt(2026, 11, 20);
    let o = [Obligation {
        def: &census,
        provider: &a,
        since,
    }];
    let runs = due(&o, |_| false, utc("2026-11-25T10:00:00Z"), 100);
    let periods: Vec<String> = runs.iter().map(|r| r.key.period.to_string()).collect();
    assert_eq!(
        periods,
        [
            "2026-11-20",
            "2026-11-21",
            "2026-11-22",
            "2026-11-23",
            "2026-11-24"
        ]
    );
}

#[test]
fn a_long_amendment_window_keeps_the_newest_periods_due() {
    let dir = tempfile::tempdir().unwrap();
    let census = common::variant(
        dir.path(),
        "ward-bed-census",
        &[("amendment_window = \"28d\"", "amendment_window = \"366d\"")],
    )
    .def;
    let a = provider("RXA", None);
    let o = [Obligation {
        def: &census,
        provider: &a,
        since: None,
    }];
    let runs = due(&o, |_| false, utc("2026-11-25T10:00:00Z"), 100_000);
    assert_eq!(runs.last().unwrap().key.period.to_string(), "2026-11-24");
    assert!(runs.len() > 360, "{}", runs.len());
}
