//! What a return says about its own completeness, over the small world of
//! tests/common/world.rs: a correction is an amendment and never lateness; a quarter in
//! progress owes only the days past their deadline, and a period nobody owes yet cannot be
//! built; a day with a row turned away by validation is partial; and each return expects
//! the kinds of provider it is about (the SitRep, acute trusts).

use crate::common;

use common::world::{census, rows, utc, world};
use tally::domain::Period;
use tally::returns::build::build;

/// Pulls one census day for `trust` from the world's drop folder at `now`, as a further
/// version when `again`.
async fn land_at(
    w: &common::world::World,
    trust: &str,
    day: &str,
    csv: &str,
    now: &str,
    again: bool,
) -> String {
    w.pull_census(trust, day, csv, utc(now), again)
        .await
        .status
        .to_string()
}

#[tokio::test]
async fn completeness_tells_corrections_progress_partial_days_and_kinds_apart() {
    let w = world().await;
    let sitrep = w.def("uec-daily-sitrep").clone();
    let kh03 = w.def("kh03-quarterly").clone();
    let root = w.returns_dir();
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();

    // RXA delivered 15 April on time; it corrects it on the 20th, inside the amendment
    // window: an amendment, and not lateness.
    let mut fixed = census("RXA", day("2026-04-15"));
    fixed = fixed.replacen(",20,18", ",20,17", 1);
    let status = land_at(
        &w,
        "RXA",
        "2026-04-15",
        &fixed,
        "2026-04-20T10:00:00Z",
        true,
    )
    .await;
    assert_eq!(status, "amended");
    let built = |name: &'static str, period: &'static str, at: &'static str| {
        let (registry, lake, root) = (&w.registry, &w.lake, &root);
        let def = if name == "kh03" { &kh03 } else { &sitrep };
        async move {
            build(
                registry,
                lake,
                root,
                def,
                &Period::parse(period).unwrap(),
                utc(at),
            )
            .await
        }
    };
    let a = built("sitrep", "2026-04-15", "2026-07-10T12:00:00Z")
        .await
        .unwrap();
    let c = &a.manifest.completeness.inputs[0];
    assert_eq!(c.amended, ["RXA"], "{c:?}");
    assert!(c.late.is_empty(), "a correction is not lateness: {c:?}");
    assert!(a.manifest.completeness.complete, "{c:?}");

    // A quarter in progress owes only the days past their deadline: on 10 August at 13:00,
    // 1 July to 9 August (40 of 92 days). Nobody sent any of them.
    let q2 = built("kh03", "2026-27-Q2", "2026-08-10T12:00:00Z")
        .await
        .unwrap();
    let c = &q2.manifest.completeness.inputs[0];
    assert_eq!((c.periods, c.periods_due), (92, 40), "{c:?}");
    let rxa = c.missing.iter().find(|m| m.code == "RXA").unwrap();
    assert_eq!((rxa.periods_missing, rxa.periods_owed), (40, 40));
    // Every day owed so far sent is still not a complete quarter.
    for trust in ["RXA", "RXB"] {
        let first = census(trust, day("2026-07-01"));
        let status = land_at(
            &w,
            trust,
            "2026-07-01",
            &first,
            "2026-07-02T09:00:00Z",
            false,
        )
        .await;
        assert_eq!(status, "landed");
    }
    let early = built("kh03", "2026-27-Q2", "2026-07-02T12:00:00Z")
        .await
        .unwrap();
    let c = &early.manifest.completeness.inputs[0];
    assert_eq!((c.periods_due, c.received, c.expected), (1, 2, 2), "{c:?}");
    assert!(
        !early.manifest.completeness.complete,
        "a quarter in progress is not complete"
    );
    // RXC closed on 1 May: it owes nothing in the quarter and is not missing.
    assert!(c.missing.iter().all(|m| m.code != "RXC"), "{c:?}");
    // A quarter nobody owes yet is an error that says so, and keeps nothing.
    let e = built("kh03", "2040-41-Q1", "2026-08-10T12:00:00Z")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2040-41-Q1 of kh03-quarterly is not owed yet"),
        "{e}"
    );
    assert!(!root.join("kh03-quarterly/period=2040-41-Q1").exists());

    // A day with a ward's row turned away by validation is partial, with the count, and
    // the return is not complete.
    let mut broken = census("RXB", day("2026-06-10"));
    broken.push_str("2026-06-10,RXB01,W99,general_acute,overnight,adult,core,general,5,9\n");
    let status = land_at(
        &w,
        "RXB",
        "2026-06-10",
        &broken,
        "2026-06-11T09:00:00Z",
        true,
    )
    .await;
    assert_eq!(status, "amended");
    let a = built("sitrep", "2026-06-10", "2026-07-10T12:00:00Z")
        .await
        .unwrap();
    let c = &a.manifest.completeness.inputs[0];
    assert_eq!(c.partial.len(), 1, "{c:?}");
    assert_eq!(
        (c.partial[0].code.as_str(), c.partial[0].rows_rejected),
        ("RXB", 1)
    );
    assert!(!a.manifest.completeness.complete);

    // A mental-health trust sends the census, which KH03 reads; the SitRep, owed by acute
    // trusts alone, neither expects it nor shows it.
    let mh = w.dir.path().join("mh.csv");
    std::fs::write(
        &mh,
        "code,name,kind,region\nRXM,Moorside Mental Health,mental_health_trust,London\n",
    )
    .unwrap();
    w.registry
        .import_providers(
            &tally::providers::read_csv(&mh).unwrap(),
            crate::common::registered(),
        )
        .await
        .unwrap();
    // Its first delivery comes a day after the deadline (late), and it corrects it the
    // day after (amended): both are said, each for what it is.
    let first = census("RXA", day("2026-06-12")).replace("RXA01", "RXM01");
    let status = land_at(
        &w,
        "RXM",
        "2026-06-12",
        &first,
        "2026-06-14T09:00:00Z",
        false,
    )
    .await;
    assert_eq!(status, "late");
    let second = first.replacen(",20,18", ",20,16", 1);
    let status = land_at(
        &w,
        "RXM",
        "2026-06-12",
        &second,
        "2026-06-15T09:00:00Z",
        true,
    )
    .await;
    assert_eq!(status, "amended");
    let a = built("sitrep", "2026-06-12", "2026-07-10T12:00:00Z")
        .await
        .unwrap();
    let c = &a.manifest.completeness.inputs[0];
    assert_eq!(c.expected, 2, "RXA and RXB, not RXM: {c:?}");
    assert!(rows(&a).iter().all(|r| r["code"] != "RXM"));
    let q1 = built("kh03", "2026-27-Q1", "2026-07-10T12:00:00Z")
        .await
        .unwrap();
    let c = &q1.manifest.completeness.inputs[0];
    assert!(
        c.missing.iter().any(|m| m.code == "RXM"),
        "KH03 expects the mental-health trust too: {c:?}"
    );
    assert!(rows(&q1).iter().any(|r| r["code"] == "RXM"));
    assert!(c.late.contains(&"RXM".to_string()), "{c:?}");
    assert!(c.amended.contains(&"RXM".to_string()), "{c:?}");
    assert!(
        !c.late.contains(&"RXA".to_string()),
        "RXA's correction is not late: {c:?}"
    );
}

/// A new version of a listed collection changes what is asked, not since when: its
/// obligations, the window for uploads and its returns' completeness still run from the
/// first listing.
#[tokio::test]
async fn a_new_version_keeps_the_day_its_licence_began() {
    let w = world().await;
    // The world listed the census on 1 March; DAP lists a second version on 15 June.
    let dir = tempfile::tempdir().unwrap();
    let v2 = common::variant(
        dir.path(),
        "ward-bed-census",
        &[(
            "The day the census describes",
            "The day this census describes",
        )],
    );
    let at = utc("2026-06-15T10:00:00Z");
    w.registry.propose(&v2, "NHS England", at).await.unwrap();
    w.registry
        .approve(
            "ward-bed-census",
            common::dap(),
            "clearer words",
            vec![],
            at,
        )
        .await
        .unwrap();
    let licensed = w
        .registry
        .require_listed("ward-bed-census", utc("2026-06-16T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(licensed.version, 2);
    assert_eq!(licensed.listed_at, utc("2026-03-01T09:00:00Z"));
    // A correction of 10 June, before the second version, is still taken.
    let key = tally::schedule::request::by_hand(
        &w.registry,
        "ward-bed-census",
        "RXA",
        "2026-06-10",
        utc("2026-06-16T10:00:00Z"),
    )
    .await;
    assert!(key.is_ok(), "{key:?}");
    // And KH03 Q1 still owes every day from April.
    let q1 = build(
        &w.registry,
        &w.lake,
        &w.returns_dir(),
        w.def("kh03-quarterly"),
        &Period::parse("2026-27-Q1").unwrap(),
        utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap();
    let c = &q1.manifest.completeness.inputs[0];
    assert_eq!((c.periods_due, c.expected, c.received), (91, 3, 3), "{c:?}");
}
