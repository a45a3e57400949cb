//! Reporting rates: who was expected to report for each closed period, and who did on
//! time, late or not at all.

use crate::common::{load, world::utc};
use tally::domain::RunStatus;
use tally::registry::governance::Licensed;
use tally::registry::reporting::{Counts, rates};
use tally::store::runs::RunRow;

fn run(provider: &str, period: &str, status: RunStatus) -> RunRow {
    RunRow {
        id: 0,
        collection: "ward-bed-census".into(),
        provider: provider.into(),
        period: period.into(),
        attempt: 1,
        status,
        instance: None,
        lease_until: None,
        started_at: utc("2026-07-01T09:00:00Z"),
        finished_at: None,
        rows_in: None,
        rows_accepted: None,
        rows_rejected: None,
        bytes: None,
        raw_sha256: None,
        error: None,
        arrived: tally::domain::Arrival::Pulled,
    }
}

#[test]
fn each_closed_period_counts_who_reported_on_time_late_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.csv");
    std::fs::write(
        &file,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXA,Ashford Hospitals,acute_trust,London,,,,,\n\
         RXB,Bramley Health,acute_trust,London,,,,,\n\
         RXC,Corby Infirmary,acute_trust,North West,,,,2026-06-29,\n\
         RXD,Dunmore,acute_trust,North West,,,2026-06-30,,\n\
         1-101,Oak House,care_home,London,,Camden,,,\n",
    )
    .unwrap();
    let providers = tally::providers::read_csv(&file).unwrap();
    let licensed = [Licensed {
        licence_number: "DAP0001".into(),
        version: 1,
        def: load("ward-bed-census").def,
        listed_at: utc("2026-03-01T09:00:00Z"),
        effective_from: "2026-03-01".parse().unwrap(),
        expires_at: utc("2029-03-01T09:00:00Z"),
    }];
    // 1 July 2026 at noon: the census for 30 June was due at 12:00 on 1 July (BST), so
    // 28, 29 and 30 June are the last three closed days.
    let now = utc("2026-07-01T11:30:00Z");
    let runs = vec![
        run("RXA", "2026-06-30", RunStatus::Landed),
        run("RXA", "2026-06-29", RunStatus::Failed),
        run("RXA", "2026-06-29", RunStatus::Late),
        // A correction of a period that landed on time leaves it on time.
        run("RXB", "2026-06-30", RunStatus::Landed),
        run("RXB", "2026-06-30", RunStatus::Amended),
        run("RXB", "2026-06-28", RunStatus::Rejected),
        run("RXD", "2026-06-30", RunStatus::Landed),
        // Not a period counted.
        run("RXA", "2026-06-01", RunStatus::Landed),
    ];
    let r = rates(&licensed, &providers, &runs, now, 3);
    let periods: Vec<String> = r
        .by_collection
        .iter()
        .map(|p| p.period.to_string())
        .collect();
    assert_eq!(periods, ["2026-06-30", "2026-06-29", "2026-06-28"]);
    let count = |expected, on_time, late, missing| Counts {
        expected,
        on_time,
        late,
        missing,
    };
    // 30 June: RXA, RXB and RXD (opened that day); RXC had closed. The care home is never asked.
    assert_eq!(r.by_collection[0].counts, count(3, 3, 0, 0));
    // 29 June: RXC closed that day, so it is not expected; RXA came late, RXB not at all.
    assert_eq!(r.by_collection[1].counts, count(2, 0, 1, 1));
    // 28 June: RXA, RXB (rejected: missing) and RXC, all missing.
    assert_eq!(r.by_collection[2].counts, count(3, 0, 0, 3));
    assert_eq!(r.by_collection[0].counts.on_time_percent(), Some(100));
    assert_eq!(r.by_collection[1].counts.on_time_percent(), Some(0));
    let regions: Vec<(&str, Counts)> = r.by_region.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    assert_eq!(
        regions,
        [
            ("London", count(6, 2, 1, 3)),
            ("North West", count(2, 1, 0, 1))
        ]
    );
    let behind: Vec<(&str, u32, u32)> = r
        .behind
        .iter()
        .map(|p| (p.code.as_str(), p.counts.missing, p.counts.late))
        .collect();
    assert_eq!(behind, [("RXB", 2, 0), ("RXA", 1, 1), ("RXC", 1, 0)]);
}
