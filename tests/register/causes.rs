//! Cause accounting: every change in the estimated burden is put down to a programme
//! change, an adjustment or automation, and the changes add up to the estimate today.

use crate::common;

use chrono::{DateTime, NaiveDate, Utc};
use common::world::{utc, world};
use tally::domain::Arrival;
use tally::domain::definition::CollectionDef;
use tally::domain::provider::Provider;
use tally::registry::causes::{Cause, attribute, estimate_at, history};
use tally::registry::records::{Listing, Records};
use tally::store::burden::FirstArrival;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn trust(code: &str, closed_on: Option<&str>) -> Provider {
    let csv = format!(
        "code,name,kind,region,closed_on\n{code},Trust {code},acute_trust,London,{}\n",
        closed_on.unwrap_or("")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(&path, csv).unwrap();
    tally::providers::read_csv(&path).unwrap().remove(0)
}

fn listing(def: &CollectionDef, version: i64, at: &str) -> Listing {
    Listing {
        version,
        def: def.clone(),
        licence_number: None,
        listed_at: utc(at),
        expires_at: None,
        effective_from: None,
    }
}

fn arrival(provider: &str, arrived: Arrival, at: &str) -> FirstArrival {
    FirstArrival {
        collection: "ward-bed-census".into(),
        provider: provider.into(),
        arrived,
        at: utc(at),
    }
}

/// Hours a year of `n` respondents at `minutes` each, for a collection sent `per_year` times.
fn hours(n: f64, per_year: f64, minutes: f64) -> f64 {
    n * per_year * minutes / 60.0
}

#[test]
fn each_change_is_put_down_to_its_cause_and_they_add_up() {
    let sitrep = common::load("uec-sitrep-manual").def;
    let census = common::load("ward-bed-census").def;
    // Version 2 of the census asks for the same and re-estimates its manual minutes.
    let mut census2 = census.clone();
    census2.burden.manual_minutes += 15.0;
    let retire = |slug: &str, at: &str| tally::store::DecisionRow {
        id: 1,
        slug: slug.into(),
        version: None,
        action: tally::domain::Step::Retire,
        actor: "DAP".into(),
        reason: "replaced by the census".into(),
        at: utc(at),
        licence_number: None,
        findings: sqlx::types::Json(Vec::new()),
        overrides: sqlx::types::Json(Vec::new()),
    };
    let records = Records {
        listings: vec![
            listing(&sitrep, 1, "2026-04-01T09:00:00Z"),
            listing(&census, 1, "2026-04-05T09:00:00Z"),
            listing(&census2, 2, "2026-05-15T09:00:00Z"),
        ],
        decisions: vec![retire("uec-sitrep-manual", "2026-05-10T09:00:00Z")],
        providers: vec![
            (trust("RXA", None), None),
            (trust("RXB", None), None),
            // Imported on 10 April; closed on 20 May.
            (
                trust("RXC", Some("2026-05-20")),
                Some(utc("2026-04-10T12:00:00Z")),
            ),
        ],
        arrivals: vec![
            // RXA uploads by hand, then its source goes live; RXB only ever uploads.
            arrival("RXA", Arrival::Uploaded, "2026-04-20T10:00:00Z"),
            arrival("RXA", Arrival::Pulled, "2026-04-30T10:00:00Z"),
            arrival("RXB", Arrival::Uploaded, "2026-05-01T10:00:00Z"),
        ],
        tz: chrono_tz::Europe::London,
    };
    let to = utc("2026-06-01T12:00:00Z");
    let a = attribute(&records, d("2026-03-31"), to);

    // The same changes counted by hand from the definitions.
    let (s_year, s_manual) = (
        sitrep.frequency.submissions_per_year(),
        sitrep.burden.manual_minutes,
    );
    let c_year = census.frequency.submissions_per_year();
    let (signed, manual, manual2) = (
        census.burden.automated_minutes,
        census.burden.manual_minutes,
        census2.burden.manual_minutes,
    );
    let expected: Vec<(NaiveDate, Cause, &str, f64)> = vec![
        (
            d("2026-04-01"),
            Cause::ProgrammeChange,
            "uec-sitrep-manual",
            hours(2.0, s_year, s_manual),
        ),
        (
            d("2026-04-05"),
            Cause::ProgrammeChange,
            "ward-bed-census",
            hours(2.0, c_year, signed),
        ),
        (
            d("2026-04-10"),
            Cause::Adjustment,
            "uec-sitrep-manual",
            hours(1.0, s_year, s_manual),
        ),
        (
            d("2026-04-10"),
            Cause::Adjustment,
            "ward-bed-census",
            hours(1.0, c_year, signed),
        ),
        (
            d("2026-04-20"),
            Cause::Adjustment,
            "ward-bed-census",
            hours(1.0, c_year, manual - signed),
        ),
        (
            d("2026-04-30"),
            Cause::Automation,
            "ward-bed-census",
            -hours(1.0, c_year, manual - signed),
        ),
        (
            d("2026-05-01"),
            Cause::Adjustment,
            "ward-bed-census",
            hours(1.0, c_year, manual - signed),
        ),
        (
            d("2026-05-10"),
            Cause::ProgrammeChange,
            "uec-sitrep-manual",
            -hours(3.0, s_year, s_manual),
        ),
        // Only RXB sends by hand, so only its minutes move with the re-estimate.
        (
            d("2026-05-15"),
            Cause::Adjustment,
            "ward-bed-census",
            hours(1.0, c_year, manual2 - manual),
        ),
        (
            d("2026-05-20"),
            Cause::Adjustment,
            "ward-bed-census",
            -hours(1.0, c_year, signed),
        ),
    ];
    let got: Vec<(NaiveDate, Cause, &str, f64)> = a
        .changes
        .iter()
        .map(|c| (c.on, c.cause, c.collection.as_str(), c.hours))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((g.0, g.1, g.2), (e.0, e.1, e.2), "{got:#?}");
        assert!((g.3 - e.3).abs() < 1e-6, "{g:?} against {e:?}");
    }
    let words: Vec<&str> = a.changes.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        words,
        [
            "listed",
            "listed",
            "1 provider joined the register",
            "1 provider joined the register",
            "1 provider sends it by hand",
            "1 provider's source went live",
            "1 provider sends it by hand",
            "retired",
            "re-estimated in version 2",
            "1 provider closed",
        ]
    );
    // The causes add up, from nothing to the estimate on the last day.
    assert_eq!(a.start_hours, 0.0);
    let sum = a.programme_change_hours + a.adjustment_hours + a.automation_hours;
    assert!((a.start_hours + sum - a.end_hours).abs() < 1e-6);
    let by_hand_now = hours(1.0, c_year, signed) + hours(1.0, c_year, manual2);
    assert!((a.end_hours - by_hand_now).abs() < 1e-6, "{}", a.end_hours);
    let now: f64 = estimate_at(&records, to)
        .iter()
        .map(|c| c.annual_hours)
        .sum();
    assert!((now - a.end_hours).abs() < 1e-9);
    let census_now = estimate_at(&records, to).remove(0);
    assert_eq!((census_now.respondents, census_now.by_hand), (2, 1));
    // Before RXC joined, the register held two trusts.
    let early = estimate_at(&records, utc("2026-04-06T00:00:00Z"));
    assert_eq!(
        early.iter().map(|c| c.respondents).collect::<Vec<_>>(),
        [2, 2]
    );
    // From a later start, only the later changes.
    let later = attribute(&records, d("2026-05-01"), to);
    assert_eq!(later.changes.len(), 3);
    assert!(
        (later.start_hours + later.programme_change_hours + later.adjustment_hours
            - later.end_hours)
            .abs()
            < 1e-6
    );
    // The steps the chart draws end at the estimate on the last day.
    let steps = history(&records, to);
    assert_eq!(steps.last().unwrap(), &(d("2026-06-01"), a.end_hours));
    assert_eq!(steps.first().unwrap().0, d("2026-04-01"));
}

/// A provider whose first upload and first pull land at the same instant was never priced
/// as sending by hand: no adjustment and automation that cancel out.
#[test]
fn a_first_upload_and_pull_together_change_nothing() {
    let census = common::load("ward-bed-census").def;
    let records = Records {
        listings: vec![listing(&census, 1, "2026-04-01T09:00:00Z")],
        decisions: Vec::new(),
        providers: vec![(trust("RXA", None), None)],
        arrivals: vec![
            arrival("RXA", Arrival::Uploaded, "2026-04-20T10:00:00Z"),
            arrival("RXA", Arrival::Pulled, "2026-04-20T10:00:00Z"),
        ],
        tz: chrono_tz::Europe::London,
    };
    let a = attribute(&records, d("2026-04-02"), utc("2026-05-01T00:00:00Z"));
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
}

/// Several providers at once are counted in words, not listed one by one.
#[test]
fn an_import_of_many_providers_is_one_change() {
    let census = common::load("ward-bed-census").def;
    let at = utc("2026-04-10T12:00:00Z");
    let providers: Vec<(Provider, Option<DateTime<Utc>>)> = (0..40)
        .map(|n| (trust(&format!("R{:02}", n), None), Some(at)))
        .collect();
    let records = Records {
        listings: vec![listing(&census, 1, "2026-04-01T09:00:00Z")],
        decisions: Vec::new(),
        providers,
        arrivals: Vec::new(),
        tz: chrono_tz::Europe::London,
    };
    let a = attribute(&records, d("2026-04-02"), utc("2026-05-01T00:00:00Z"));
    assert_eq!(a.changes.len(), 1, "{:#?}", a.changes);
    assert_eq!(a.changes[0].what, "40 providers joined the register");
    assert_eq!(a.changes[0].cause, Cause::Adjustment);
    // Before any provider is registered, the listing's own estimate of respondents stands;
    // the import replaces it with the register's count.
    let per = census.frequency.submissions_per_year() * census.burden.automated_minutes / 60.0;
    let expected = 40.0 * per - f64::from(census.respondents.estimated) * per;
    assert!((a.changes[0].hours - expected).abs() < 1e-6);
}

/// Through the register: an import is an adjustment, a retirement a programme change, and
/// the changes end at the headline the progress page shows.
#[tokio::test]
async fn the_registers_own_records_attribute_imports_and_retirements() {
    let w = world().await;
    let r = &w.registry;
    w.add_trust_and_retire_homes(utc("2026-07-05T10:00:00Z"), utc("2026-07-06T10:00:00Z"))
        .await;
    let at = utc("2026-07-10T12:00:00Z");
    let a = r.attribution(d("2026-07-01"), at).await.unwrap();
    let census = common::load("ward-bed-census").def;
    let homes = common::load("care-home-capacity").def;
    let one_trust =
        census.frequency.submissions_per_year() * census.burden.automated_minutes / 60.0;
    let six_homes =
        6.0 * homes.frequency.submissions_per_year() * homes.burden.automated_minutes / 60.0;
    let got: Vec<(Cause, &str, String)> = a
        .changes
        .iter()
        .map(|c| (c.cause, c.collection.as_str(), format!("{:.3}", c.hours)))
        .collect();
    assert_eq!(
        got,
        [
            (
                Cause::Adjustment,
                "ward-bed-census",
                format!("{one_trust:.3}")
            ),
            (
                Cause::ProgrammeChange,
                "care-home-capacity",
                format!("{:.3}", -six_homes)
            ),
        ]
    );
    let headline = r.burden(at).await.unwrap();
    assert!((a.end_hours - headline.total_hours).abs() < 1e-6);
    assert!(
        (a.start_hours + a.programme_change_hours + a.adjustment_hours + a.automation_hours
            - a.end_hours)
            .abs()
            < 1e-6
    );
    // Every trust's census came from its source: nobody is priced as sending it by hand.
    assert!(headline.collections.iter().all(|c| c.by_hand == 0));

    // Listed again after its retirement, the homes' collection has a new licence number;
    // the estimate of a day it was in force under the old one keeps the old one.
    let old = r
        .store()
        .collection("care-home-capacity")
        .await
        .unwrap()
        .unwrap();
    let old_number = old.licence_number.clone().unwrap();
    let again = utc("2026-07-08T10:00:00Z");
    r.propose(&common::load("care-home-capacity"), "NHS England", again)
        .await
        .unwrap();
    common::list_owed_at_once(r, "care-home-capacity", again).await;
    let new_number = r
        .store()
        .collection("care-home-capacity")
        .await
        .unwrap()
        .unwrap()
        .licence_number
        .unwrap();
    assert_ne!(new_number, old_number);
    let records = r.burden_records().await.unwrap();
    let licence = |at: &str| {
        estimate_at(&records, utc(at))
            .into_iter()
            .find(|c| c.slug == "care-home-capacity")
            .and_then(|c| c.licence_number)
    };
    assert_eq!(licence("2026-06-01T00:00:00Z"), Some(old_number));
    assert_eq!(licence("2026-07-09T00:00:00Z"), Some(new_number));
}

/// The registry keeps its last estimate for the span between two of the replay's events:
/// asked at instants on both sides of every change, forwards and then backwards, it answers
/// what a fresh replay of the same records does, the instant a change is made and the
/// nanosecond before.
#[tokio::test]
async fn the_kept_estimate_is_the_replays_at_every_instant() {
    let w = world().await;
    let r = &w.registry;
    let (registered, retired) = (utc("2026-07-05T10:00:00Z"), utc("2026-07-06T10:00:00Z"));
    w.add_trust_and_retire_homes(registered, retired).await;
    let records = r.burden_records().await.unwrap();
    let mut instants: Vec<chrono::DateTime<chrono::Utc>> = (0..200)
        .map(|h| utc("2026-02-20T00:00:00Z") + chrono::Duration::hours(h * 11))
        .collect();
    let mut changes: Vec<_> = records.listings.iter().map(|l| l.listed_at).collect();
    changes.extend(records.decisions.iter().map(|d| d.at));
    changes.extend(records.arrivals.iter().map(|a| a.at));
    changes.extend([registered, retired]);
    for at in changes {
        instants.extend([at - chrono::Duration::nanoseconds(1), at]);
    }
    instants.sort();
    let backwards: Vec<_> = instants.iter().rev().copied().collect();
    for at in instants.into_iter().chain(backwards) {
        assert_eq!(
            r.estimate_at(at).await.unwrap(),
            estimate_at(&records, at),
            "at {at}"
        );
    }
    // The estimate did change over the instants asked about.
    assert_ne!(
        estimate_at(&records, utc("2026-03-02T00:00:00Z")),
        estimate_at(&records, utc("2026-07-10T00:00:00Z"))
    );
}
