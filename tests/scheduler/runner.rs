//! The runner's step with a file source: every due period pulled once, landed periods left
//! alone, failures retried after their backoff.

use crate::common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, list_owed_at_once, load};
use tally::connectors::Sources;
use tally::providers::read_csv;
use tally::service::Options;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

#[tokio::test]
async fn each_due_period_is_pulled_once_and_failures_wait_for_their_backoff() {
    let db = TestDb::sqlite();
    let registry = Arc::new(db.registry().await);
    // The manual SitRep, listed first as the baseline, is filled in by hand: the runner never
    // pulls it, even with a source set up for it.
    let sitrep = load("uec-sitrep-manual");
    registry
        .propose(&sitrep, "NHS England", utc("2026-11-01T09:00:00Z"))
        .await
        .unwrap();
    list_owed_at_once(&registry, "uec-sitrep-manual", utc("2026-11-01T09:00:00Z")).await;
    let census = load("ward-bed-census");
    registry
        .propose(&census, "NHS England", utc("2026-11-01T09:00:00Z"))
        .await
        .unwrap();
    list_owed_at_once(&registry, "ward-bed-census", utc("2026-11-01T09:00:00Z")).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(&csv, "code,name,kind,region\nRXA,Ashford,acute_trust,London\nRXB,Bramley,acute_trust,London\n1-100000001,Oak House,care_home,London\n").unwrap();
    registry
        .import_providers(&read_csv(&csv).unwrap(), crate::common::registered())
        .await
        .unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    std::fs::write(
        dir.path().join("sources.toml"),
        "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n\n[[source]]\ncollection = \"uec-sitrep-manual\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"sitrep_{provider}_{period}.csv\"\n",
    )
    .unwrap();
    for day in ["2026-11-23", "2026-11-24"] {
        std::fs::write(
            dir.path().join(format!("drop/RXA_{day}.csv")),
            format!("{HEADER}\n{day},RXA01,W1,general_acute,overnight,adult,core,general,20,18\n"),
        )
        .unwrap();
    }
    let runner = common::runner(
        dir.path(),
        &db,
        registry.clone(),
        Sources::load(&dir.path().join("sources.toml")).unwrap(),
        Options {
            instance: "test".into(),
            per_host: 2,
            pace: Default::default(),
            concurrency: 4,
        },
    );
    // Listed on 1 November: by 10:00 on 25 November the days 1 to 24 November are due for
    // each trust, and nothing from before the listing.
    let now = utc("2026-11-25T10:00:00Z");
    let first = runner.step(now).await.unwrap();
    let landed: Vec<String> = first
        .iter()
        .filter(|p| p.status == "landed" || p.status == "late")
        .map(|p| format!("{} {}", p.key.provider, p.key.period))
        .collect();
    assert_eq!(landed.len(), 2, "{landed:?}");
    assert!(landed.contains(&"RXA 2026-11-24".to_string()));
    assert_eq!(first.len(), 2 * 24);
    let listed_on = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    assert!(first.iter().all(|p| p.key.period.first_day() >= listed_on));
    let failed = first.iter().filter(|p| p.status == "failed").count();
    assert_eq!(failed, first.len() - 2);
    assert!(
        first.iter().all(|p| p.key.provider != "1-100000001"),
        "care homes do not owe the census"
    );
    // Straight away, nothing: what landed is settled, what failed waits for its backoff.
    assert!(
        runner
            .step(now + Duration::seconds(30))
            .await
            .unwrap()
            .is_empty()
    );
    // A file arrives for RXB; after the first backoff (2 minutes, plus up to a fifth) the
    // failures are tried again and that one lands.
    std::fs::write(
        dir.path().join("drop/RXB_2026-11-24.csv"),
        format!("{HEADER}\n2026-11-24,RXB01,W1,general_acute,overnight,adult,core,general,10,9\n"),
    )
    .unwrap();
    // Meanwhile another instance lands RXB's 23 November: this runner reads it from the
    // ledger at its next step and does not ask for it again.
    let elsewhere = tally::domain::RunKey {
        collection: "ward-bed-census".into(),
        provider: "RXB".into(),
        period: tally::domain::Period::parse("2026-11-23").unwrap(),
    };
    let at = now + Duration::minutes(1);
    let run = registry
        .store()
        .claim_run(
            &elsewhere,
            "another",
            at,
            at + Duration::minutes(5),
            false,
            tally::domain::Arrival::Uploaded,
        )
        .await
        .unwrap()
        .unwrap();
    registry
        .store()
        .finish_run(
            run.id,
            "another",
            tally::domain::RunStatus::Landed,
            &Default::default(),
            at,
        )
        .await
        .unwrap();
    let retry = runner.step(now + Duration::minutes(3)).await.unwrap();
    assert_eq!(retry.len(), failed - 1);
    assert!(!retry.iter().any(|p| p.key == elsewhere));
    assert!(retry.iter().any(|p| p.key.provider == "RXB"
        && p.key.period.to_string() == "2026-11-24"
        && p.version == Some(1)));
    // The second failure doubles the wait: at 3 minutes more, nothing is due yet.
    assert!(
        runner
            .step(now + Duration::minutes(6))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !runner
            .step(now + Duration::minutes(8))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn nothing_is_pulled_for_a_period_before_the_effective_date() {
    let db = TestDb::sqlite();
    let registry = Arc::new(db.registry().await);
    let listed = utc("2026-11-01T09:00:00Z");
    registry
        .propose(&load("ward-bed-census"), "NHS England", listed)
        .await
        .unwrap();
    // Owed from 28 December, the listing day plus the 56 days' notice, given outright.
    registry
        .approve_from(
            "ward-bed-census",
            common::dap(),
            "ok",
            vec![],
            Some("2026-12-28".parse().unwrap()),
            listed,
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runner = one_trust(dir.path(), &db, &registry).await;
    // Listed, with a source, every day of December over: nothing is owed yet.
    assert!(
        runner
            .step(utc("2026-12-27T10:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    // The morning after the effective day, that day alone is due.
    let due = runner.step(utc("2026-12-29T10:00:00Z")).await.unwrap();
    let periods: Vec<String> = due.iter().map(|p| p.key.period.to_string()).collect();
    assert_eq!(periods, ["2026-12-28"]);
}

/// The runner keeps the keys landed in the amendment window between steps and reads only
/// what lands since. When a new version lengthens the window, periods that had closed open
/// again: the runner reads the longer window afresh and finds them landed, rather than
/// asking for them again.
#[tokio::test]
async fn a_longer_amendment_window_is_read_afresh() {
    let db = TestDb::sqlite();
    let registry = Arc::new(db.registry().await);
    let listed = utc("2026-11-01T09:00:00Z");
    registry
        .propose(&load("ward-bed-census"), "NHS England", listed)
        .await
        .unwrap();
    list_owed_at_once(&registry, "ward-bed-census", listed).await;
    let dir = tempfile::tempdir().unwrap();
    let runner = one_trust(dir.path(), &db, &registry).await;
    // Every day from the listing to 9 December is delivered.
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    while day <= chrono::NaiveDate::from_ymd_opt(2026, 12, 9).unwrap() {
        std::fs::write(
            dir.path().join(format!("drop/RXA_{day}.csv")),
            format!("{HEADER}\n{day},RXA01,W1,general_acute,overnight,adult,core,general,20,18\n"),
        )
        .unwrap();
        day = day.succ_opt().unwrap();
    }
    let landed = |pulled: &[tally::schedule::pull::Pulled]| {
        pulled
            .iter()
            .all(|p| p.status == "landed" || p.status == "late")
    };
    // 1 and 2 November land on the 3rd, the days to 19 November on the 20th, and the rest
    // on 10 December. By then 1 and 2 November have closed (12 hours and 28 days after
    // each), and the runs of the 3rd are out of the window the runner keeps.
    let first = runner.step(utc("2026-11-03T10:00:00Z")).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(landed(&first), "{first:?}");
    let second = runner.step(utc("2026-11-20T10:00:00Z")).await.unwrap();
    assert_eq!(second.len(), 17);
    assert!(landed(&second), "{second:?}");
    let third = runner.step(utc("2026-12-10T10:00:00Z")).await.unwrap();
    assert_eq!(third.len(), 20);
    assert!(landed(&third), "{third:?}");
    assert!(
        runner
            .step(utc("2026-12-10T10:30:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    // Version 2 keeps periods open to amendment for 60 days: 1 and 2 November are open
    // again, and landed on 3 November. Read from the kept keys alone, they would be asked
    // for again (and refused by the ledger, as skipped).
    let longer = common::variant(
        dir.path(),
        "ward-bed-census",
        &[("amendment_window = \"28d\"", "amendment_window = \"60d\"")],
    );
    let at = utc("2026-12-10T11:00:00Z");
    registry.propose(&longer, "NHS England", at).await.unwrap();
    registry
        .approve_from("ward-bed-census", common::dap(), "ok", vec![], None, at)
        .await
        .unwrap();
    let after = runner.step(utc("2026-12-10T12:00:00Z")).await.unwrap();
    assert!(after.is_empty(), "{after:?}");
}

/// Ashford (RXA) registered, delivering the census to the `drop` folder in `dir`, and a
/// runner over it.
async fn one_trust(
    dir: &std::path::Path,
    db: &TestDb,
    registry: &Arc<tally::registry::Registry>,
) -> tally::schedule::runner::Runner {
    let csv = dir.join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
    )
    .unwrap();
    registry
        .import_providers(&read_csv(&csv).unwrap(), crate::common::registered())
        .await
        .unwrap();
    std::fs::create_dir_all(dir.join("drop")).unwrap();
    std::fs::write(
        dir.join("sources.toml"),
        "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n",
    )
    .unwrap();
    common::runner(
        dir,
        db,
        registry.clone(),
        Sources::load(&dir.join("sources.toml")).unwrap(),
        Options {
            instance: "test".into(),
            per_host: 2,
            pace: Default::default(),
            concurrency: 4,
        },
    )
}
