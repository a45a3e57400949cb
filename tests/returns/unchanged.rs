//! The scheduled builder's check of many periods at once: it reads the register once for
//! all of a return's periods, and for each it must say "unchanged" exactly when a build of
//! that period alone would make no new version, whatever moved: an amendment, a sign-off,
//! the provider register.

use crate::common;

use chrono::{DateTime, Utc};
use common::world::{World, census, utc, world};
use tally::domain::Period;
use tally::returns::build::{build_for, unchanged};

const NOW: &str = "2026-07-10T12:00:00Z";

/// What the check says of each period of `name`, after asserting that a build of each,
/// one at a time, makes a new version exactly where it said "changed".
async fn checked(w: &World, name: &str, periods: &[&str], now: DateTime<Utc>) -> Vec<bool> {
    let periods: Vec<Period> = periods.iter().map(|p| Period::parse(p).unwrap()).collect();
    let providers = w.registry.store().providers().await.unwrap();
    let def = w.def(name);
    let root = w.returns_dir();
    let said = unchanged(&w.registry, &root, def, &periods, now, &providers).await;
    assert_eq!(said.len(), periods.len());
    for (period, unchanged) in periods.iter().zip(&said) {
        match build_for(&w.registry, &w.lake, &root, def, period, now, &providers).await {
            Ok(built) => assert_eq!(
                *unchanged, !built.new,
                "{name} {period}: the check said unchanged = {unchanged}, the build made a new version = {}",
                built.new
            ),
            // A period that cannot be built is never said to be unchanged: its build is
            // tried, and says why.
            Err(e) => assert!(!unchanged, "{name} {period}: unchanged, yet {e:#}"),
        }
    }
    said
}

#[tokio::test]
async fn a_check_of_many_periods_says_what_a_build_of_each_would() {
    let w = world().await;
    let census_ = "ward-bed-census";
    let days = [
        "2026-07-01",
        "2026-07-02",
        "2026-07-03",
        "2026-07-04",
        "2026-07-05",
    ];
    for day in days {
        let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        for trust in ["RXA", "RXB"] {
            w.land(census_, trust, day, &census(trust, d), false).await;
        }
    }
    let now = utc(NOW);
    let sitrep = "uec-daily-sitrep";
    let quarters = ["2026-27-Q1", "2026-27-Q2"];

    // Nothing built yet: every period is to build. 20 July is not owed yet, so it is
    // never unchanged, among periods that are.
    let mixed = ["2026-07-01", "2026-07-20", "2026-07-02"];
    assert_eq!(checked(&w, sitrep, &mixed, now).await, [false; 3]);
    assert_eq!(checked(&w, sitrep, &mixed, now).await, [true, false, true]);
    // 1 and 2 July were built just now; the other days have still to be.
    assert_eq!(
        checked(&w, sitrep, &days, now).await,
        [true, true, false, false, false]
    );
    assert_eq!(
        checked(&w, "kh03-quarterly", &quarters, now).await,
        [false; 2]
    );
    // Built, and nothing has moved since.
    assert_eq!(checked(&w, sitrep, &days, now).await, [true; 5]);
    assert_eq!(
        checked(&w, "kh03-quarterly", &quarters, now).await,
        [true; 2]
    );

    // RXA amends 3 July: that day, and the quarter that holds it.
    let d = chrono::NaiveDate::from_ymd_opt(2026, 7, 3).unwrap();
    let amended = census("RXA", d).replacen(",20,18", ",20,17", 1);
    assert_ne!(
        amended,
        census("RXA", d),
        "the amendment must change a figure"
    );
    w.land(census_, "RXA", "2026-07-03", &amended, true).await;
    assert_eq!(
        checked(&w, sitrep, &days, now).await,
        [true, true, false, true, true]
    );
    assert_eq!(
        checked(&w, "kh03-quarterly", &quarters, now).await,
        [true, false]
    );

    // RXB signs 4 July off: what the completeness says of that day moves.
    w.registry
        .sign_period(
            "RXB",
            census_,
            "2026-07-04",
            1,
            "Duty manager",
            utc("2026-07-05T10:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        checked(&w, sitrep, &days, now).await,
        [true, true, true, false, true]
    );
    assert_eq!(
        checked(&w, "kh03-quarterly", &quarters, now).await,
        [true, false]
    );

    // A trust joins the register: every period's context moves.
    w.add_trust_and_retire_homes(utc("2026-07-06T09:00:00Z"), utc("2026-07-06T09:00:00Z"))
        .await;
    assert_eq!(checked(&w, sitrep, &days, now).await, [false; 5]);
    assert_eq!(checked(&w, sitrep, &days, now).await, [true; 5]);
}
