//! The notices read a collection's runs only from the earliest period a provider's standing
//! can look at: that bound must hold every period the standing lists, at every seventh hour
//! of a year across both clock changes, and be tight (the period before it is shut).

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, list_owed_at_once, load};
use tally::registry::window::closes;
use tally::schedule::standing::{earliest_walked, standing};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn every_period_a_standing_lists_is_at_or_after_the_earliest_it_walks() {
    let db = TestDb::sqlite();
    let registry = db.registry().await;
    let listed = utc("2026-01-01T00:00:00Z");
    // The manual forms first: listed after the census, they would be refused as derivable.
    let slugs = [
        "kh03-manual",
        "uec-sitrep-manual",
        "ward-bed-census",
        "care-home-capacity",
    ];
    for slug in slugs {
        registry
            .propose(&load(slug), "NHS England", listed)
            .await
            .unwrap();
        list_owed_at_once(&registry, slug, listed).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n1-101,Oak House,care_home,London\n",
    )
    .unwrap();
    registry
        .import_providers(&tally::providers::read_csv(&csv).unwrap(), listed)
        .await
        .unwrap();
    let providers = registry.providers().await.unwrap();
    let mut now = utc("2026-02-01T00:30:00Z");
    let mut listed_periods = 0;
    while now < utc("2027-02-01T00:00:00Z") {
        let licensed = registry.licensed(now).await.unwrap();
        let licensed: Vec<_> = licensed.iter().collect();
        for p in providers.iter() {
            // No runs: everything walked that is due within the week is listed.
            let stand = standing(&licensed, p, &[], |_| false, now);
            for o in stand.overdue.iter().chain(&stand.week) {
                let l = licensed
                    .iter()
                    .find(|l| l.def.slug.as_str() == o.collection)
                    .unwrap();
                let earliest = earliest_walked(&l.def, now).expect("a period was listed");
                assert!(
                    o.period.to_string() >= earliest.to_string(),
                    "{} {} at {now}: listed, but before the earliest walked, {earliest}",
                    o.collection,
                    o.period
                );
                assert!(
                    closes(&l.def, &earliest.previous()) <= now,
                    "{} at {now}: the period before {earliest} is still open",
                    o.collection
                );
                listed_periods += 1;
            }
        }
        now += Duration::hours(7);
    }
    assert!(listed_periods > 1_000, "only {listed_periods} listed");
}
