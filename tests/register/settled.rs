//! Reading what the run ledger has settled from a mark, on SQLite and PostgreSQL: each
//! landed run takes the next mark as it lands, and a reading from an earlier mark finds
//! only what landed since.

use chrono::Duration;
use common::TestDb;
use tally::store::runs::{Arrival, RunOutcome, RunStatus};

use crate::common;
use crate::run_ledger::{end_run, key, land, open, t0};

contract!(each_reading_of_the_settled_keys_starts_at_the_last_mark);

/// A reading from an earlier mark finds the runs landed since it and nothing else, however
/// long ago they started; a run still held is found by its lease until it lands, and then
/// by its mark.
async fn each_reading_of_the_settled_keys_starts_at_the_last_mark(db: &TestDb) {
    let s = open(db).await;
    let window = t0() - Duration::days(400);
    let first = s.settled(t0(), window, None).await.unwrap();
    assert!(first.landed.is_empty() && first.leased.is_empty());
    land(&s, &key("RXA", "2026-11-23"), 1).await;
    land(&s, &key("RXB", "2026-11-23"), 2).await;
    let second = s.settled(t0(), window, Some(first.mark)).await.unwrap();
    let keys = |r: &tally::store::settled::SettledReading| -> Vec<String> {
        let mut k: Vec<String> = r
            .landed
            .iter()
            .map(|((_, p, d), _)| format!("{p} {d}"))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&second), ["RXA 2026-11-23", "RXB 2026-11-23"]);
    assert_eq!(second.mark, first.mark + 2);
    assert_eq!(
        second.landed[0].1.min(second.landed[1].1),
        t0() + Duration::minutes(1)
    );
    // Nothing landed since: nothing is read, and the mark stays.
    let idle = s.settled(t0(), window, Some(second.mark)).await.unwrap();
    assert!(idle.landed.is_empty());
    assert_eq!(idle.mark, second.mark);
    // A run started long before the window is still read from the mark: the caller decides
    // what to keep. Held, it is found by its lease; landed, by its mark.
    let old = key("RXC", "2025-06-01");
    let long_ago = t0() - Duration::days(500);
    let run = s
        .claim_run(
            &old,
            "a",
            long_ago,
            t0() + Duration::minutes(30),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    let held = s.settled(t0(), window, Some(idle.mark)).await.unwrap();
    assert!(held.landed.is_empty());
    assert_eq!(
        held.leased,
        [("ward-bed-census".into(), "RXC".into(), "2025-06-01".into())]
    );
    s.finish_run(run.id, "a", RunStatus::Late, &RunOutcome::default(), t0())
        .await
        .unwrap();
    let landed = s.settled(t0(), window, Some(held.mark)).await.unwrap();
    assert!(landed.leased.is_empty());
    assert_eq!(keys(&landed), ["RXC 2025-06-01"]);
    assert_eq!(landed.landed[0].1, long_ago);
    // A run that fails takes no mark.
    end_run(
        &s,
        &key("RXD", "2026-11-23"),
        "a",
        t0(),
        t0(),
        RunStatus::Failed,
        RunOutcome::default(),
    )
    .await;
    let after_failure = s.settled(t0(), window, Some(landed.mark)).await.unwrap();
    assert_eq!(after_failure.mark, landed.mark);
    assert!(after_failure.landed.is_empty() && after_failure.leased.is_empty());
    // A first reading reads the window: every landed run started in it, none before it.
    let whole = s.settled(t0(), window, None).await.unwrap();
    assert_eq!(whole.mark, landed.mark);
    assert_eq!(keys(&whole), ["RXA 2026-11-23", "RXB 2026-11-23"]);
}
