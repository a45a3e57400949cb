//! The run ledger's contract on SQLite and PostgreSQL: claims, leases, take-over, release,
//! and two instances on one database claiming each run exactly once.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::TestDb;
use tally::domain::Period;
use tally::domain::RunKey;
use tally::landing::plausible::{Held, Reason};
use tally::store::holds::HoldFilter;
use tally::store::runs::{Arrival, ExtractVersion, RunFilter, RunOutcome, RunStatus};
use tally::store::{self, Store};

contract!(
    a_run_left_running_by_a_dead_instance_is_swept,
    a_claimed_run_is_held_until_it_finishes,
    an_expired_lease_is_taken_over,
    released_runs_can_be_claimed_again,
    two_instances_claim_each_run_exactly_once,
    current_versions_are_the_newest_of_each_key_in_the_range,
    a_hold_is_recorded_with_its_version_and_confirmed_once_while_current,
);

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

pub(crate) fn key(provider: &str, day: &str) -> RunKey {
    RunKey {
        collection: "ward-bed-census".into(),
        provider: provider.into(),
        period: Period::parse(day).unwrap(),
    }
}

pub(crate) async fn open(db: &TestDb) -> Arc<dyn Store> {
    store::connect(db.url()).await.unwrap()
}

async fn a_claimed_run_is_held_until_it_finishes(db: &TestDb) {
    let s = open(db).await;
    let k = key("RXA", "2026-11-24");
    let lease = t0() + Duration::seconds(90);
    let run = s
        .claim_run(&k, "a", t0(), lease, false, Arrival::Pulled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (run.attempt, run.status.as_str(), run.instance.as_deref()),
        (1, "running", Some("a"))
    );
    assert!(
        s.claim_run(&k, "b", t0(), lease, false, Arrival::Pulled)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.renew_lease(run.id, "a", t0() + Duration::seconds(180))
            .await
            .unwrap()
    );
    assert!(
        !s.renew_lease(run.id, "b", t0() + Duration::seconds(180))
            .await
            .unwrap()
    );
    let outcome = RunOutcome {
        rows_in: Some(120),
        rows_accepted: Some(118),
        rows_rejected: Some(2),
        bytes: Some(9_876),
        raw_sha256: Some("ab".repeat(32)),
        error: None,
        ..RunOutcome::default()
    };
    s.finish_run(
        run.id,
        "a",
        RunStatus::Landed,
        &outcome,
        t0() + Duration::seconds(5),
    )
    .await
    .unwrap();
    let settled = settled_keys(&s, t0(), t0() - chrono::Duration::days(400)).await;
    assert_eq!(
        settled,
        [("ward-bed-census".into(), "RXA".into(), "2026-11-24".into())]
    );
    // Runs that started before the window asked about are not read at all.
    let after = t0() + chrono::Duration::minutes(1);
    assert!(settled_keys(&s, t0(), after).await.is_empty());
    // The timetable does not pull a landed period again...
    let later = t0() + Duration::hours(1);
    assert!(
        s.claim_run(
            &k,
            "b",
            later,
            lease + Duration::hours(1),
            false,
            Arrival::Pulled
        )
        .await
        .unwrap()
        .is_none()
    );
    // ...but asking for it again is a new attempt (it will land a new version).
    let again = s
        .claim_run(
            &k,
            "b",
            later,
            lease + Duration::hours(1),
            true,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 2);
    let listed = s
        .runs(&RunFilter {
            provider: Some("RXA".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.attempt).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(listed[1].rows_rejected, Some(2));
    let landed = s
        .runs(&RunFilter {
            status: Some(RunStatus::Landed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(landed.len(), 1);
}

async fn an_expired_lease_is_taken_over(db: &TestDb) {
    let s = open(db).await;
    let k = key("RXB", "2026-11-24");
    let a = s
        .claim_run(
            &k,
            "a",
            t0(),
            t0() + Duration::seconds(90),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    // Instance a dies; b comes after the lease has run out and takes the run over.
    let later = t0() + Duration::seconds(91);
    let b = s
        .claim_run(
            &k,
            "b",
            later,
            later + Duration::seconds(90),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.attempt, 2);
    let old = s
        .runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let old = old.iter().find(|r| r.id == a.id).unwrap();
    assert_eq!(
        old.status, "due",
        "let go, not failed: the source did not fail"
    );
    assert!(
        old.error
            .as_deref()
            .unwrap()
            .contains("stopped renewing its lease")
    );
    // a comes back and tries to finish with a version: refused, and neither the version
    // nor the report is recorded.
    let version = |run_id: i64| tally::store::runs::ExtractVersion {
        collection: k.collection.clone(),
        provider: k.provider.clone(),
        period: k.period.to_string(),
        version: 1,
        run_id,
        path: "v1.parquet".into(),
        raw_path: String::new(),
        raw_sha256: "0".repeat(64),
        bytes: 10,
        rows_accepted: 1,
        rows_rejected: 0,
        report: sqlx::types::Json(serde_json::json!({})),
        landed_at: later,
        etag: None,
    };
    let late_a = RunOutcome {
        report: Some(serde_json::json!({"rows_in": 1})),
        version: Some(version(a.id)),
        ..RunOutcome::default()
    };
    let e = s
        .finish_run(a.id, "a", RunStatus::Landed, &late_a, later)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer held by a"), "{e}");
    assert_eq!(s.run_report(a.id).await.unwrap(), None);
    assert_eq!(
        s.next_version(&k).await.unwrap(),
        1,
        "a's version was not recorded"
    );
    let b_done = RunOutcome {
        report: Some(serde_json::json!({"rows_in": 1})),
        version: Some(version(b.id)),
        ..RunOutcome::default()
    };
    s.finish_run(b.id, "b", RunStatus::Late, &b_done, later)
        .await
        .unwrap();
    assert_eq!(
        s.run_report(b.id).await.unwrap(),
        Some(serde_json::json!({"rows_in": 1}))
    );
    assert_eq!(s.next_version(&k).await.unwrap(), 2);
}

async fn released_runs_can_be_claimed_again(db: &TestDb) {
    let s = open(db).await;
    let lease = t0() + Duration::seconds(90);
    for p in ["RXA", "RXB"] {
        s.claim_run(
            &key(p, "2026-11-24"),
            "a",
            t0(),
            lease,
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    }
    assert_eq!(s.release_runs("a", t0()).await.unwrap(), 2);
    assert!(
        settled_keys(&s, t0(), t0() - chrono::Duration::days(400))
            .await
            .is_empty()
    );
    let again = s
        .claim_run(
            &key("RXA", "2026-11-24"),
            "b",
            t0(),
            lease,
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 2);
    let due = s
        .runs(&RunFilter {
            status: Some(RunStatus::Due),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(due.len(), 2);
}

async fn two_instances_claim_each_run_exactly_once(db: &TestDb) {
    // Two pools on one database stand for two `tally serve` processes.
    let (one, two) = (open(db).await, open(db).await);
    let keys: Vec<RunKey> = (0..25)
        .flat_map(|p| {
            (1..=9).map(move |d| {
                key(
                    &format!("R{}{}", (b'A' + p / 10) as char, p % 10),
                    &format!("2026-11-{d:02}"),
                )
            })
        })
        .collect();
    assert!(keys.len() >= 200);
    let lease = t0() + Duration::seconds(90);
    let runner = |s: Arc<dyn Store>, name: &'static str, keys: Vec<RunKey>| async move {
        let mut mine = Vec::new();
        for k in keys {
            if let Some(run) = s
                .claim_run(&k, name, t0(), lease, false, Arrival::Pulled)
                .await
                .unwrap()
            {
                s.finish_run(
                    run.id,
                    name,
                    RunStatus::Landed,
                    &RunOutcome::default(),
                    t0(),
                )
                .await
                .unwrap();
                mine.push(k);
            }
        }
        mine
    };
    // Both walk the same due list, one from each end, so they meet and contend.
    let mut reversed = keys.clone();
    reversed.reverse();
    let (a, b) = tokio::join!(
        tokio::spawn(runner(one.clone(), "one", keys.clone())),
        tokio::spawn(runner(two.clone(), "two", reversed)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Each instance tried every run, so exactly-once is checked below either way. On
    // PostgreSQL both also win some; SQLite's busy handler puts a waiting writer to sleep
    // while the other takes every turn, so there one instance may rightly win them all.
    if matches!(db, TestDb::Postgres { .. }) {
        assert!(
            !a.is_empty() && !b.is_empty(),
            "both instances pulled: {} and {}",
            a.len(),
            b.len()
        );
    }
    let a_set: HashSet<&RunKey> = a.iter().collect();
    assert!(
        b.iter().all(|k| !a_set.contains(k)),
        "a run was pulled by both"
    );
    assert_eq!(a.len() + b.len(), keys.len());
    let all = one
        .runs(&RunFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), keys.len(), "one attempt per run");
    assert!(all.iter().all(|r| r.status == "landed" && r.attempt == 1));
}

async fn a_run_left_running_by_a_dead_instance_is_swept(db: &TestDb) {
    let s = open(db).await;
    let k = key("RXC", "2026-11-24");
    let run = s
        .claim_run(
            &k,
            "dead",
            t0(),
            t0() + Duration::seconds(90),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.expire_leases(t0() + Duration::seconds(60)).await.unwrap(),
        0
    );
    assert_eq!(
        s.expire_leases(t0() + Duration::seconds(90)).await.unwrap(),
        1
    );
    let rows = s
        .runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let row = rows.iter().find(|r| r.id == run.id).unwrap();
    assert_eq!(row.status, "due");
    assert_eq!(row.lease_until, None);
    // Taken again and let go again: a pull that stops whatever instance holds it now
    // waits out a backoff, as a failure, rather than being taken at once by the next.
    let again = s
        .claim_run(
            &k,
            "next",
            t0() + Duration::seconds(120),
            t0() + Duration::seconds(210),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 2);
    assert_eq!(
        s.expire_leases(t0() + Duration::seconds(210))
            .await
            .unwrap(),
        1
    );
    let rows = s
        .runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let row = rows.iter().find(|r| r.id == again.id).unwrap();
    assert_eq!(row.status, "failed");
    assert!(
        row.error
            .as_deref()
            .unwrap()
            .contains("stopped renewing its lease")
    );
    assert!(
        settled_keys(&s, t0(), t0() - chrono::Duration::days(400))
            .await
            .is_empty()
    );
}

/// The keys a first reading finds settled at `now` among runs started since `since`:
/// landed, or held under a live lease.
async fn settled_keys(
    s: &Arc<dyn Store>,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Vec<(String, String, String)> {
    let reading = s.settled(now, since, None).await.unwrap();
    let mut keys: Vec<_> = reading.landed.into_iter().map(|(k, _)| k).collect();
    keys.extend(reading.leased);
    keys
}

/// Claims `k` for `instance` at `started` and ends the run at `finished` as `status`, with
/// `outcome` and no version: a pull that failed, or a run recorded without its file.
pub(crate) async fn end_run(
    s: &Arc<dyn Store>,
    k: &RunKey,
    instance: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    status: RunStatus,
    outcome: RunOutcome,
) {
    let run = s
        .claim_run(
            k,
            instance,
            started,
            finished + Duration::minutes(5),
            false,
            Arrival::Pulled,
        )
        .await
        .unwrap()
        .unwrap();
    s.finish_run(run.id, instance, status, &outcome, finished)
        .await
        .unwrap();
}

/// Records a landed version of `k`, as a pull does.
pub(crate) async fn land(s: &Arc<dyn Store>, k: &RunKey, version: i64) {
    land_holding(s, k, version, Vec::new()).await;
}

/// Lands `version` of `k` with `held` figures held in it.
async fn land_holding(s: &Arc<dyn Store>, k: &RunKey, version: i64, held: Vec<Held>) {
    land_arriving(s, k, version, held, Arrival::Pulled).await;
}

/// Lands `version` of `k`, `version` minutes after 09:00 on 25 November 2026, arriving as
/// `arrival`, with `held` figures held in it.
pub(crate) async fn land_arriving(
    s: &Arc<dyn Store>,
    k: &RunKey,
    version: i64,
    held: Vec<Held>,
    arrival: Arrival,
) {
    let at = t0() + Duration::minutes(version);
    let run = s
        .claim_run(k, "a", at, at + Duration::seconds(90), true, arrival)
        .await
        .unwrap()
        .unwrap();
    let outcome = RunOutcome {
        version: Some(ExtractVersion {
            collection: k.collection.clone(),
            provider: k.provider.clone(),
            period: k.period.to_string(),
            version,
            run_id: run.id,
            path: format!("lake/{}/{}/v{version}.parquet", k.provider, k.period),
            raw_path: String::new(),
            raw_sha256: format!("{version:064}"),
            bytes: 10,
            rows_accepted: 1,
            rows_rejected: 0,
            report: sqlx::types::Json(serde_json::json!({})),
            landed_at: at,
            etag: None,
        }),
        // One more held than kept, as when more than 200 are.
        held: (held.len() + usize::from(!held.is_empty()), held),
        ..RunOutcome::default()
    };
    s.finish_run(run.id, "a", RunStatus::Landed, &outcome, at)
        .await
        .unwrap();
}

async fn current_versions_are_the_newest_of_each_key_in_the_range(db: &TestDb) {
    let s = open(db).await;
    land(&s, &key("RXA", "2026-11-23"), 1).await;
    // Recorded out of order, so that only the version, not the order of recording, can
    // make 3 the current one.
    for v in [2, 3, 1] {
        land(&s, &key("RXA", "2026-11-24"), v).await;
    }
    land(&s, &key("RXB", "2026-11-24"), 1).await;
    land(&s, &key("RXB", "2026-11-24"), 2).await;
    land(&s, &key("RXA", "2026-11-25"), 1).await;
    let mut other = key("RXA", "2026-11-24");
    other.collection = "care-home-capacity".into();
    land(&s, &other, 7).await;

    let got = |first: &'static str, last: &'static str| {
        let s = s.clone();
        async move {
            s.current_versions("ward-bed-census", first, last)
                .await
                .unwrap()
                .into_iter()
                .map(|v| {
                    (
                        v.provider,
                        v.period,
                        v.version,
                        v.raw_sha256.ends_with(&v.version.to_string()),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let day = |p: &str, d: &str, v: i64| (p.to_string(), d.to_string(), v, true);
    assert_eq!(
        got("2026-11-24", "2026-11-24").await,
        [day("RXA", "2026-11-24", 3), day("RXB", "2026-11-24", 2)]
    );
    assert_eq!(
        got("2026-11-23", "2026-11-25").await,
        [
            day("RXA", "2026-11-23", 1),
            day("RXA", "2026-11-24", 3),
            day("RXB", "2026-11-24", 2),
            day("RXA", "2026-11-25", 1),
        ]
    );
    assert!(got("2026-11-26", "2026-11-30").await.is_empty());

    // One provider's current versions of chosen periods, as a landing reads its baseline:
    // the newest of each, none for a period not landed, nothing of other providers or
    // collections.
    let of = |periods: &[&str]| {
        let (s, periods) = (
            s.clone(),
            periods.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        );
        async move {
            let mut got: Vec<(String, i64)> = s
                .current_of("ward-bed-census", "RXA", &periods)
                .await
                .unwrap()
                .into_iter()
                .map(|v| (v.period, v.version))
                .collect();
            got.sort();
            got
        }
    };
    assert_eq!(
        of(&["2026-11-25", "2026-11-24", "2026-11-20"]).await,
        [("2026-11-24".to_string(), 3), ("2026-11-25".to_string(), 1)]
    );
    assert!(of(&["2026-11-20"]).await.is_empty());
    assert!(of(&[]).await.is_empty());
}

async fn a_hold_is_recorded_with_its_version_and_confirmed_once_while_current(db: &TestDb) {
    let s = open(db).await;
    let k = key("RXA", "2026-11-24");
    let figure = Held {
        row:
            "census_date=2026-11-24, site_code=RXA01, ward_code=W1, stay=overnight, bed_class=core"
                .into(),
        item: "occupied_beds".into(),
        value: 0.0,
        median: 16.5,
        low: 15.0,
        high: 18.0,
        periods: 8,
        score: 7.42,
        reason: Reason::Zero,
    };
    land_holding(&s, &k, 1, vec![figure.clone()]).await;
    land(&s, &key("RXB", "2026-11-24"), 1).await;
    let awaiting = HoldFilter {
        awaiting: true,
        ..HoldFilter::default()
    };
    let holds = s.holds(&awaiting).await.unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(
        (
            holds[0].provider.as_str(),
            holds[0].version,
            holds[0].figures
        ),
        ("RXA", 1, 2)
    );
    assert_eq!(holds[0].held_at, t0() + Duration::minutes(1));
    assert_eq!(
        s.held_figures("ward-bed-census", "RXA", "2026-11-24", 1)
            .await
            .unwrap(),
        std::slice::from_ref(&figure)
    );
    // Not a version that is not held, and then once only.
    let at = t0() + Duration::hours(2);
    let confirm = |v: i64| {
        let s = s.clone();
        async move {
            s.confirm_hold(
                "ward-bed-census",
                "RXA",
                "2026-11-24",
                v,
                "Ward clerk",
                "checked",
                at,
            )
            .await
            .unwrap()
        }
    };
    assert!(!confirm(2).await);
    assert!(confirm(1).await);
    assert!(!confirm(1).await);
    assert!(s.holds(&awaiting).await.unwrap().is_empty());
    let all = s.holds(&HoldFilter::default()).await.unwrap();
    assert_eq!(
        (
            all[0].confirmed_by.as_deref(),
            all[0].confirmed_at,
            all[0].note.as_deref()
        ),
        (Some("Ward clerk"), Some(at), Some("checked"))
    );

    // A newer version of a held period replaces the hold: it is neither listed nor
    // confirmable any more.
    let k2 = key("RXA", "2026-11-25");
    land_holding(&s, &k2, 1, vec![figure]).await;
    assert_eq!(s.holds(&awaiting).await.unwrap().len(), 1);
    land(&s, &k2, 2).await;
    assert!(s.holds(&awaiting).await.unwrap().is_empty());
    assert!(
        !s.confirm_hold(
            "ward-bed-census",
            "RXA",
            "2026-11-25",
            1,
            "Ward clerk",
            "",
            at
        )
        .await
        .unwrap()
    );
}
