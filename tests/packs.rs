//! Packs: a closed month's extracts gathered into one file. What a return says must not
//! depend on them: the same bytes from packs as from the version files, an amendment read
//! from its own file until the month is packed again, a damaged or half-made pack passed
//! over, and the scheduler packing each month as it closes. Over the small lake in
//! tests/common/world.rs.

mod common;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use common::world::{World, census, row, rows, utc, world};
use tally::landing::pack::{self, Pack, Read};
use tally::returns::build::{Artifact, build};
use tally::returns::{Catalogue, scheduled};
use tally::schedule::period::Period;

fn period(p: &str) -> Period {
    Period::parse(p).unwrap()
}

/// Packs the given units of a collection, as `tally lake pack` does.
async fn pack(w: &World, collection: &str, units: &[&str]) -> Vec<pack::Packed> {
    let def = w
        .registry
        .require_listed(collection, utc("2026-07-10T12:00:00Z"))
        .await
        .unwrap()
        .def;
    let units: Vec<Period> = units.iter().map(|u| period(u)).collect();
    pack::pack_units(
        w.registry.store().as_ref(),
        &w.lake,
        &def,
        &units,
        utc("2026-07-10T12:00:00Z"),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

async fn build_into(w: &World, root: &Path, name: &str, p: &str) -> Artifact {
    build(
        &w.registry,
        &w.lake,
        root,
        w.catalogue.get(name).unwrap(),
        &period(p),
        utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap()
}

/// How a build would read one collection's current versions over `first..=last`.
async fn plan(w: &World, collection: &str, first: &str, last: &str) -> Vec<Read> {
    let current = w
        .registry
        .store()
        .current_versions(collection, first, last)
        .await
        .unwrap();
    pack::plan(&w.lake, collection, &current).unwrap()
}

const CASES: [(&str, &str); 4] = [
    ("uec-daily-sitrep", "2026-04-15"),
    ("uec-daily-sitrep", "2026-05-31"),
    ("kh03-quarterly", "2026-27-Q1"),
    ("care-home-occupancy", "2026-04"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_read_from_packs_are_byte_for_byte_those_read_from_files() {
    let w = world().await;
    let from_files = w.dir.path().join("from-files");
    let mut before = Vec::new();
    for (name, p) in CASES {
        before.push(build_into(&w, &from_files, name, p).await);
    }

    let census = pack(&w, "ward-bed-census", &["2026-04", "2026-05", "2026-06"]).await;
    // April: three trusts for 30 days; May and June: RXC had closed.
    let members: Vec<usize> = census.iter().map(|p| p.members).collect();
    assert_eq!(members, [90, 62, 60]);
    // RXA sends 6 ward rows a day, RXB and RXC 2.
    assert_eq!(census[0].rows, 30 * (6 + 2 + 2));
    assert!(census.iter().all(|p| p.number == Some(1)));
    let homes = pack(&w, "care-home-capacity", &["2026-04"]).await;
    assert_eq!((homes[0].members, homes[0].number), (6, Some(1)));

    // A quarter is three whole packs; a day is a slice of its month's.
    let quarter = plan(&w, "ward-bed-census", "2026-04-01", "2026-06-30").await;
    assert_eq!(quarter.len(), 3, "{quarter:?}");
    assert!(
        quarter
            .iter()
            .all(|r| matches!(r, Read::Pack { ranges: None, .. }))
    );
    let day = plan(&w, "ward-bed-census", "2026-04-15", "2026-04-15").await;
    match day.as_slice() {
        [
            Read::Pack {
                ranges: Some(ranges),
                rows,
                ..
            },
        ] => {
            assert_eq!(ranges.len(), 3, "one range a trust");
            assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), 10);
            assert_eq!(*rows, 300);
        }
        other => panic!("{other:?}"),
    }

    let from_packs = w.dir.path().join("from-packs");
    for ((name, p), before) in CASES.iter().zip(&before) {
        let after = build_into(&w, &from_packs, name, p).await;
        assert_eq!(
            after.manifest.data_sha256, before.manifest.data_sha256,
            "{name} {p}"
        );
        assert_eq!(after.manifest.inputs, before.manifest.inputs, "{name} {p}");
        // Where the files-only artifact is, building again makes no new version: packs
        // change how the inputs are read, not what they are.
        assert!(!build_into(&w, &from_files, name, p).await.new);
    }

    // Packing again with nothing new makes nothing.
    let again = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((again[0].number, again[0].members), (None, 90));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amendment_is_read_from_its_own_file_until_its_month_is_packed_again() {
    let w = world().await;
    pack(&w, "ward-bed-census", &["2026-04"]).await;
    let root = w.dir.path().join("returns");
    let first = build_into(&w, &root, "uec-daily-sitrep", "2026-04-15").await;
    assert_eq!(row(&rows(&first), "RXA")["ga_occupied"].as_i64(), Some(30));

    // RXA corrects 15 April: 11 of its adult core beds were occupied, not 18.
    let day = NaiveDate::from_ymd_opt(2026, 4, 15).unwrap();
    let corrected = census("RXA", day).replace(
        "W1,general_acute,overnight,adult,core,general,20,18",
        "W1,general_acute,overnight,adult,core,general,20,11",
    );
    w.land("ward-bed-census", "RXA", "2026-04-15", &corrected, true)
        .await;
    let reads = plan(&w, "ward-bed-census", "2026-04-01", "2026-04-30").await;
    let files: Vec<&PathBuf> = reads
        .iter()
        .filter_map(|r| match r {
            Read::File(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(files.len(), 1, "{reads:?}");
    assert!(files[0].ends_with("period=2026-04-15/provider=RXA/v2.parquet"));
    let Some(Read::Pack {
        ranges: Some(ranges),
        ..
    }) = reads.iter().find(|r| matches!(r, Read::Pack { .. }))
    else {
        panic!("{reads:?}")
    };
    assert_eq!(ranges.len(), 89, "every member but the amended one");

    let amended = build_into(&w, &root, "uec-daily-sitrep", "2026-04-15").await;
    assert!(amended.new && amended.manifest.version == 2);
    assert_eq!(
        row(&rows(&amended), "RXA")["ga_occupied"].as_i64(),
        Some(23)
    );
    // Other days of the month still come from the pack, unchanged.
    let sixteenth = build_into(&w, &root, "uec-daily-sitrep", "2026-04-16").await;
    assert_eq!(
        row(&rows(&sixteenth), "RXA")["ga_occupied"].as_i64(),
        Some(30)
    );
    let kh03 = build_into(&w, &root, "kh03-quarterly", "2026-27-Q1").await;

    // Packed again: the month's 89 unchanged members are copied from the first pack and the
    // amendment read from its file; the month is one whole pack again, with the same data.
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((repacked[0].number, repacked[0].members), (Some(2), 90));
    let latest = Pack::latest(&w.lake, "ward-bed-census", &period("2026-04"))
        .unwrap()
        .unwrap();
    let m = latest
        .manifest
        .members
        .iter()
        .find(|m| m.provider == "RXA" && m.period == "2026-04-15")
        .unwrap();
    assert_eq!(m.version, 2);
    let reads = plan(&w, "ward-bed-census", "2026-04-01", "2026-04-30").await;
    assert!(
        matches!(reads.as_slice(), [Read::Pack { ranges: None, .. }]),
        "{reads:?}"
    );
    assert!(
        !build_into(&w, &root, "uec-daily-sitrep", "2026-04-15")
            .await
            .new
    );
    let fresh = w.dir.path().join("fresh");
    assert_eq!(
        build_into(&w, &fresh, "kh03-quarterly", "2026-27-Q1")
            .await
            .manifest
            .data_sha256,
        kh03.manifest.data_sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_half_made_pack_is_passed_over_and_nothing_is_lost() {
    let w = world().await;
    let files_only = w.dir.path().join("files-only");
    let want = build_into(&w, &files_only, "kh03-quarterly", "2026-27-Q1").await;
    pack(&w, "ward-bed-census", &["2026-04"]).await;
    let unit = w.lake.packs_dir("ward-bed-census", &period("2026-04"));

    // A killed packing leaves a temporary folder: never read.
    let tmp = unit.join(".tmp-p2-999");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("data.parquet"), b"PAR1 half a file").unwrap();
    let quarter = plan(&w, "ward-bed-census", "2026-04-01", "2026-06-30").await;
    assert!(quarter.iter().any(|r| matches!(r, Read::Pack { .. })));

    // A pack whose data is cut short is passed over: its versions are read from their own
    // files and the return is the same.
    let data = unit.join("p1/data.parquet");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let quarter = plan(&w, "ward-bed-census", "2026-04-01", "2026-06-30").await;
    assert!(quarter.iter().all(|r| matches!(r, Read::File(_))));
    let root = w.dir.path().join("damaged");
    let got = build_into(&w, &root, "kh03-quarterly", "2026-27-Q1").await;
    assert_eq!(got.manifest.data_sha256, want.manifest.data_sha256);

    // So is a pack with no readable manifest. Packing again makes a whole pack beside them.
    std::fs::create_dir_all(unit.join("p2")).unwrap();
    std::fs::write(unit.join("p2/members.json"), b"{ not json").unwrap();
    assert!(
        Pack::latest(&w.lake, "ward-bed-census", &period("2026-04"))
            .unwrap()
            .is_none()
    );
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((repacked[0].number, repacked[0].members), (Some(3), 90));
    let root = w.dir.path().join("repacked");
    let got = build_into(&w, &root, "kh03-quarterly", "2026-27-Q1").await;
    assert_eq!(got.manifest.data_sha256, want.manifest.data_sha256);
    // The temporary folder is young, so a packing still under way elsewhere keeps it.
    assert!(tmp.exists());

    // Packs superseded over an hour ago are removed when the unit is packed next; the pack
    // that superseded them, and anything newer, stay.
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for dir in ["p1", "p2", "p3", ".tmp-p2-999"] {
        std::fs::File::open(unit.join(dir))
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    let day = NaiveDate::from_ymd_opt(2026, 4, 3).unwrap();
    let corrected = census("RXB", day).replace(",30,27", ",30,28");
    w.land("ward-bed-census", "RXB", "2026-04-03", &corrected, true)
        .await;
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!(repacked[0].number, Some(4));
    let mut left: Vec<String> = std::fs::read_dir(&unit)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["p3", "p4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_packs_each_month_as_it_closes_and_again_after_an_amendment() {
    let w = world().await;
    let builder = scheduled::Builder::new(
        w.registry.clone(),
        std::sync::Arc::new(Catalogue::load(&common::repo().join("queries")).unwrap()),
        w.lake.clone(),
        w.returns_dir(),
    )
    .unwrap();
    // 30 April's census is due by noon on 1 May (BST): April is not closed at 11:30 BST.
    let round = builder.round(utc("2026-05-01T10:30:00Z")).await;
    assert!(round.pack_failed.is_empty(), "{:?}", round.pack_failed);
    assert!(round.packed.is_empty(), "{:?}", round.packed);
    let round = builder.round(utc("2026-05-01T11:30:00Z")).await;
    assert_eq!(
        round.packed,
        [("ward-bed-census".to_string(), "2026-04".to_string(), 1)]
    );
    assert!(round.failed.is_empty(), "{:?}", round.failed);
    let round = builder.round(utc("2026-05-01T11:31:00Z")).await;
    assert!(round.packed.is_empty() && round.built.is_empty());

    // RXB amends 10 April: the month is packed again and that day alone rebuilt.
    let day = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
    let corrected = census("RXB", day).replace(",30,27", ",30,29");
    w.land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    let round = builder.round(utc("2026-05-01T11:40:00Z")).await;
    assert_eq!(
        round.packed,
        [("ward-bed-census".to_string(), "2026-04".to_string(), 2)]
    );
    assert_eq!(
        round.built,
        [("uec-daily-sitrep".to_string(), "2026-04-10".to_string(), 2)]
    );

    // Once April's last amendment window has shut (28 days after its last deadline), the
    // scheduler no longer looks at its census; April's care-home capacity, due by 6 May,
    // has been packed meanwhile.
    let round = builder.round(utc("2026-05-29T12:00:00Z")).await;
    assert_eq!(
        round.packed,
        [("care-home-capacity".to_string(), "2026-04".to_string(), 1)]
    );
    drop(builder);
}
