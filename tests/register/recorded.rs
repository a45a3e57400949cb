//! A time a provider records replaces the estimate of that period in the achieved burden,
//! and DAP sees the median of what providers recorded beside the listing's minutes.

use crate::common;

use chrono::NaiveDate;
use common::world::{utc, world};
use tally::registry::achieved::How;

#[tokio::test]
async fn a_recorded_time_replaces_the_estimate_of_its_period() {
    let w = world().await;
    let r = &w.registry;
    let census = common::load("ward-bed-census").def;
    let signed = census.burden.automated_minutes;
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
    );
    let now = utc("2026-07-10T12:00:00Z");
    let before = r.achieved(from, to, now, None).await.unwrap();
    let by = "Ashford bed manager";
    r.record_time(
        "ward-bed-census",
        "RXA",
        "2026-06-10",
        12.0,
        by,
        utc("2026-07-01T09:00:00Z"),
    )
    .await
    .unwrap();
    // Recorded again: the newest counts.
    r.record_time(
        "ward-bed-census",
        "RXA",
        "2026-06-10",
        9.0,
        by,
        utc("2026-07-02T09:00:00Z"),
    )
    .await
    .unwrap();
    let after = r.achieved(from, to, now, None).await.unwrap();
    let census_of = |a: &tally::registry::achieved::Achieved| {
        a.collections
            .iter()
            .find(|c| c.collection == "ward-bed-census")
            .unwrap()
            .clone()
    };
    let (b, a) = (census_of(&before), census_of(&after));
    assert_eq!((b.recorded, a.recorded), (0, 1));
    assert!((a.achieved_hours - b.achieved_hours - (9.0 - signed) / 60.0).abs() < 1e-9);
    // The estimate of the period is what it was: only the achieved burden moves.
    assert_eq!(a.estimated_hours, b.estimated_hours);
    // As of a day before it was recorded, the estimate of the period stands; between the
    // two recordings, the first.
    let (_, early) = r
        .achieved_ledger(from, to, utc("2026-07-01T12:00:00Z"))
        .await
        .unwrap();
    let rxa = early
        .iter()
        .find(|m| m.provider == "RXA" && m.period == "2026-06-10")
        .unwrap();
    assert_eq!((rxa.recorded_minutes, rxa.minutes), (Some(12.0), 12.0));

    // DAP sees the median of what was recorded, by way of meeting the period.
    for (trust, day, minutes) in [("RXB", "2026-06-11", 14.0), ("RXA", "2026-06-12", 10.0)] {
        r.record_time(
            "ward-bed-census",
            trust,
            day,
            minutes,
            by,
            utc("2026-07-03T09:00:00Z"),
        )
        .await
        .unwrap();
    }
    let observed = r.observed("ward-bed-census", now).await.unwrap();
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(
        (
            observed[0].how,
            observed[0].periods,
            observed[0].median_minutes
        ),
        (How::Pulled, 3, 10.0)
    );
    assert_eq!(observed[0].listed_minutes, signed);

    // What cannot be recorded, and why.
    let at = utc("2026-07-10T09:00:00Z");
    for (collection, provider, period, minutes, why) in [
        ("ward-bed-census", "RXA", "2026-06-10", 0.0, "more than 0"),
        (
            "ward-bed-census",
            "RXA",
            "2026-06-10",
            f64::NAN,
            "more than 0",
        ),
        (
            "ward-bed-census",
            "RXA",
            "2026-06-10",
            20_000.0,
            "at most 10080",
        ),
        (
            "ward-bed-census",
            "RXA",
            "2026-06",
            10.0,
            "is not a daily period",
        ),
        (
            "ward-bed-census",
            "1-101",
            "2026-06-10",
            10.0,
            "is not asked for",
        ),
        (
            "ward-bed-census",
            "RXA",
            "2026-07-05",
            10.0,
            "nothing has been sent",
        ),
        (
            "ward-bed-census",
            "RXZ",
            "2026-06-10",
            10.0,
            "not a registered provider",
        ),
        (
            "no-such-thing",
            "RXA",
            "2026-06-10",
            10.0,
            "has been in force",
        ),
    ] {
        let e = r
            .record_time(collection, provider, period, minutes, by, at)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(why),
            "{provider} {period} {minutes}: {e}"
        );
    }
    assert!(
        r.record_time("ward-bed-census", "RXA", "2026-06-10", 5.0, " ", at)
            .await
            .is_err()
    );
}
