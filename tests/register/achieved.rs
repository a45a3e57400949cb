//! Achieved burden: every period owed, priced by how it was actually met, equals a count of
//! what happened in a small world priced by hand from the definitions.

use crate::common;

use common::world::{HOMES, census, utc, world};
use tally::domain::Period;
use tally::registry::achieved::How;
use tally::schedule::pull::Timing;
use tally::schedule::upload::{HandIn, Handed, hand_in};

/// Pulls `home`'s capacity snapshot for `month` from the drop folder, as the scheduler would.
async fn pull_home(w: &common::world::World, home: &str, month: &str, csv: &str) -> String {
    let end = Period::parse(month).unwrap().end();
    w.pull_file(
        "care-home-capacity",
        home,
        month,
        csv,
        utc(&format!("{end}T06:00:00Z")),
        false,
    )
    .await
    .status
    .to_string()
}

#[tokio::test]
async fn achieved_burden_is_what_happened_priced_from_the_definitions() {
    let w = world().await;
    // May: Oak House's system sends a file Tally cannot read, then a good one (one fix);
    // Elm Lodge has no system that month and its manager uploads by hand.
    assert_eq!(
        pull_home(&w, "1-101", "2026-05", "not,the,items\n1,2,3\n").await,
        "rejected"
    );
    let may = format!("{HOMES}\n2026-05-31,40,35,1,4\n");
    assert_eq!(pull_home(&w, "1-101", "2026-05", &may).await, "landed");
    // The scheduler meeting the same rejection again is not another fix.
    let file = w.dir.path().join("elm-may.csv");
    std::fs::write(&file, format!("{HOMES}\n2026-05-31,25,24,0,1\n")).unwrap();
    let up = hand_in(
        &w.registry,
        &w.lake,
        HandIn {
            collection: "care-home-capacity".into(),
            provider: "1-102".into(),
            period: "2026-05".into(),
            handed: Handed::File {
                path: file,
                name: "elm-may.csv".into(),
            },
            via: "cli",
            replace: false,
        },
        utc("2026-06-02T09:00:00Z"),
        Timing::Fixed,
    )
    .await
    .unwrap();
    assert_eq!(up.status.as_str(), "landed");
    // RXA corrects 10 June from its source; then sends the same bytes again, which is
    // nothing new.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 6, 10).unwrap();
    let corrected = census("RXA", day).replacen(",20,18", ",20,17", 1);
    let at = utc("2026-06-12T09:00:00Z");
    let p = w
        .pull_census("RXA", "2026-06-10", &corrected, at, true)
        .await;
    assert_eq!(p.status.as_str(), "amended");
    let p = w
        .pull_census("RXA", "2026-06-10", &corrected, at, true)
        .await;
    assert!(p.unchanged, "{}", p.message);

    let from = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let a = w
        .registry
        .achieved(from, to, utc("2026-07-10T12:00:00Z"), None)
        .await
        .unwrap();

    // Counted by hand. The census: RXA and RXB every day of April to June (91), RXC until
    // it closed on 1 May (30), all pulled, and one correction pulled. Care homes: six homes
    // owe April to June; all six pulled April; in May one pulled after a fix and one
    // uploaded; the rest never sent.
    let census_def = &tally::registry::load::load_file(
        &common::collection_path("ward-bed-census"),
        chrono_tz::Europe::London,
    )
    .unwrap()
    .def
    .burden;
    let homes_def = &tally::registry::load::load_file(
        &common::collection_path("care-home-capacity"),
        chrono_tz::Europe::London,
    )
    .unwrap()
    .def
    .burden;
    let (census_pulls, census_corrections) = (91 + 91 + 30, 1);
    let (home_pulls, home_uploads, home_fixes, never) = (6 + 1, 1, 1, 18 - 8);
    let minutes = f64::from(census_pulls + census_corrections) * census_def.automated_minutes
        + f64::from(home_pulls) * homes_def.automated_minutes
        + f64::from(home_uploads) * homes_def.manual_minutes
        + f64::from(home_fixes) * homes_def.manual_minutes;
    assert!(
        (a.achieved_hours - minutes / 60.0).abs() < 1e-9,
        "achieved {} h, counted {} h: {a:#?}",
        a.achieved_hours,
        minutes / 60.0
    );
    let estimated =
        f64::from(census_pulls) * census_def.automated_minutes + 18.0 * homes_def.automated_minutes;
    assert!(
        (a.estimated_hours - estimated / 60.0).abs() < 1e-9,
        "{a:#?}"
    );

    let homes = a
        .collections
        .iter()
        .find(|c| c.collection == "care-home-capacity")
        .unwrap();
    assert_eq!(
        (
            homes.owed,
            homes.pulled,
            homes.uploaded,
            homes.fixes,
            homes.never_sent
        ),
        (18, home_pulls, home_uploads, home_fixes, never)
    );
    let beds = a
        .collections
        .iter()
        .find(|c| c.collection == "ward-bed-census")
        .unwrap();
    assert_eq!(
        (beds.owed, beds.pulled, beds.corrections, beds.never_sent),
        (census_pulls, census_pulls, census_corrections, 0)
    );

    // Priced in pounds at the staff group's rate; a group without one is not priced.
    let rates = tally::domain::budget::StaffRates {
        source: "Rates made up for the test".into(),
        per_hour: [
            ("bed_manager".to_string(), 30.0),
            ("care_home_manager".to_string(), 22.0),
        ]
        .into(),
    };
    let mut priced = a.clone();
    priced.price(Some(&rates));
    let pounds = |c: &str| {
        priced
            .collections
            .iter()
            .find(|x| x.collection == c)
            .unwrap()
            .achieved_pounds
            .unwrap()
    };
    assert!((pounds("ward-bed-census") - beds.achieved_hours * 30.0).abs() < 1e-9);
    assert!((pounds("care-home-capacity") - homes.achieved_hours * 22.0).abs() < 1e-9);
    let total = priced.achieved_pounds.unwrap();
    assert!((total - (beds.achieved_hours * 30.0 + homes.achieved_hours * 22.0)).abs() < 1e-9);
    assert_eq!(
        priced.rates_source.as_deref(),
        Some("Rates made up for the test")
    );
    let mut partly = a.clone();
    partly.price(Some(&tally::domain::budget::StaffRates {
        source: "Only nurses".into(),
        per_hour: [("nurse".to_string(), 40.0)].into(),
    }));
    assert_eq!(
        partly.achieved_pounds, None,
        "a total with an unpriced collection is unknown"
    );
    assert_eq!(a.achieved_pounds, None, "no rates, no pounds");

    // The ledger line by line: Oak House's May, fixed.
    let defs = w.registry.in_force_history().await.unwrap();
    let in_force: Vec<_> = defs
        .iter()
        .map(
            |(def, from, to)| tally::registry::provider_burden::InForce {
                def,
                from: *from,
                to: *to,
            },
        )
        .collect();
    let runs = w
        .registry
        .store()
        .runs(&tally::store::runs::RunFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let providers = w.registry.store().providers().await.unwrap();
    let arrivals = w.registry.store().first_arrivals().await.unwrap();
    let ledger = tally::registry::achieved::ledger(
        &in_force,
        &providers,
        tally::registry::achieved::Sent {
            runs: &runs,
            arrivals: &arrivals,
            recorded: &[],
        },
        from,
        to,
        utc("2026-07-10T12:00:00Z"),
    );
    let oak = ledger
        .iter()
        .find(|m| m.provider == "1-101" && m.period == "2026-05")
        .unwrap();
    assert_eq!((oak.how, oak.fixes), (How::Pulled, 1));
    assert_eq!(
        oak.minutes,
        homes_def.automated_minutes + homes_def.manual_minutes
    );
    let june = ledger
        .iter()
        .find(|m| m.provider == "1-103" && m.period == "2026-06")
        .unwrap();
    assert_eq!((june.how, june.minutes), (How::NeverSent, 0.0));
}

/// DAP sees the providers whose periods cost them most, each the sum of its own periods.
#[tokio::test]
async fn providers_are_ranked_by_the_burden_their_periods_cost_them() {
    let w = world().await;
    let (from, to) = (
        chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
    );
    let now = utc("2026-07-10T12:00:00Z");
    let rates = tally::domain::budget::StaffRates {
        source: "Rates made up for the test".into(),
        per_hour: [
            ("bed_manager".to_string(), 30.0),
            ("care_home_manager".to_string(), 22.0),
        ]
        .into(),
    };
    let (achieved, all) = w
        .registry
        .achieved_ranked(from, to, now, Some(&rates), 100)
        .await
        .unwrap();
    let (_, ledger) = w.registry.achieved_ledger(from, to, now).await.unwrap();
    // Every provider with a period owed, each its own periods' minutes.
    assert_eq!(all.len(), 9);
    for p in &all {
        let own: f64 = ledger
            .iter()
            .filter(|m| m.provider == p.provider)
            .map(|m| m.minutes / 60.0)
            .sum();
        assert!((p.achieved_hours - own).abs() < 1e-9, "{p:?}");
        let rate = if p.provider.starts_with('R') {
            30.0
        } else {
            22.0
        };
        assert!(
            (p.achieved_pounds.unwrap() - own * rate).abs() < 1e-6,
            "{p:?}"
        );
        assert!(!p.name.is_empty());
    }
    let sum: f64 = all.iter().map(|p| p.achieved_hours).sum();
    assert!((sum - achieved.achieved_hours).abs() < 1e-9);
    // Most first, and only as many as asked for.
    assert!(
        all.windows(2)
            .all(|w| w[0].achieved_hours >= w[1].achieved_hours)
    );
    let (_, top) = w
        .registry
        .achieved_ranked(from, to, now, None, 2)
        .await
        .unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0].provider, all[0].provider);
    assert_eq!(top[0].achieved_pounds, None, "not priced without rates");
    // RXC closed on 1 May: April's days only.
    let rxc = all.iter().find(|p| p.provider == "RXC").unwrap();
    assert_eq!(rxc.owed, 30);
}
