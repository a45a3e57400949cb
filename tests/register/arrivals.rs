//! What the burden pages read, kept between requests: the registry keeps its reading of the
//! register's records until the register's revision or the ledger's first arrivals move,
//! and the arrivals move exactly when a provider's first run of a collection by a way of
//! arriving lands, or one lands earlier than the first. On SQLite and PostgreSQL.

use crate::common;

use std::sync::Arc;

use chrono::Duration;
use common::TestDb;
use tally::registry::Registry;
use tally::store::runs::{Arrival, RunOutcome, RunStatus};

use crate::run_ledger::{end_run, key, land_arriving, open, t0};

contract!(the_burden_records_are_read_again_when_a_first_arrival_lands);

async fn the_burden_records_are_read_again_when_a_first_arrival_lands(db: &TestDb) {
    let s = open(db).await;
    let registry = Registry::new(s.clone(), chrono_tz::Europe::London);
    let start = s.arrivals_revision().await.unwrap();
    let moved = async || s.arrivals_revision().await.unwrap() - start;
    let first = registry.burden_records().await.unwrap();
    assert!(first.arrivals.is_empty());
    // Read again with nothing changed: the same reading.
    assert!(Arc::ptr_eq(
        &first,
        &registry.burden_records().await.unwrap()
    ));

    // The first pull of RXA's census: a first arrival.
    land_arriving(
        &s,
        &key("RXA", "2026-11-23"),
        10,
        Vec::new(),
        Arrival::Pulled,
    )
    .await;
    assert_eq!(moved().await, 1);
    let pulled = registry.burden_records().await.unwrap();
    let seen: Vec<_> = pulled
        .arrivals
        .iter()
        .map(|a| (a.provider.as_str(), a.arrived, a.at))
        .collect();
    assert_eq!(
        seen,
        [("RXA", Arrival::Pulled, t0() + Duration::minutes(10))]
    );

    // A later pull, and a failed one of another provider: nothing moves, the reading is kept.
    land_arriving(
        &s,
        &key("RXA", "2026-11-24"),
        20,
        Vec::new(),
        Arrival::Pulled,
    )
    .await;
    end_run(
        &s,
        &key("RXB", "2026-11-24"),
        "a",
        t0(),
        t0() + Duration::minutes(25),
        RunStatus::Failed,
        RunOutcome {
            error: Some("the source did not answer".into()),
            ..RunOutcome::default()
        },
    )
    .await;
    assert_eq!(moved().await, 1);
    assert!(Arc::ptr_eq(
        &pulled,
        &registry.burden_records().await.unwrap()
    ));

    // One recorded out of order, earlier than the first: the first arrival moves back.
    land_arriving(
        &s,
        &key("RXA", "2026-11-22"),
        5,
        Vec::new(),
        Arrival::Pulled,
    )
    .await;
    assert_eq!(moved().await, 2);
    let earlier = registry.burden_records().await.unwrap();
    assert_eq!(earlier.arrivals.len(), 1);
    assert_eq!(earlier.arrivals[0].at, t0() + Duration::minutes(5));

    // The first upload by hand is a first arrival of its own.
    land_arriving(
        &s,
        &key("RXA", "2026-11-25"),
        30,
        Vec::new(),
        Arrival::Uploaded,
    )
    .await;
    assert_eq!(moved().await, 3);
    let uploaded = registry.burden_records().await.unwrap();
    assert_eq!(uploaded.arrivals.len(), 2);

    // A provider joining the register moves its revision: the records are read again.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region\nRXC,Chelmsford,acute_trust,East\n",
    )
    .unwrap();
    registry
        .import_providers(
            &tally::providers::read_csv(&csv).unwrap(),
            t0() + Duration::minutes(40),
        )
        .await
        .unwrap();
    let imported = registry.burden_records().await.unwrap();
    assert!(
        imported
            .providers
            .iter()
            .any(|(p, _)| p.code.as_str() == "RXC")
    );
}
