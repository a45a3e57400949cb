//! Packs: a closed month's extracts gathered into one file. What a return says must not
//! depend on them: every member's rows in a pack are its version's rows, the same bytes come
//! from packs as from the version files (in one row group or many), an amendment is read
//! from its own file until the month is packed again, a damaged or half-made pack is passed
//! over, and the scheduler packs each month as it closes and backs off from one it cannot.
//! Over the small lake in tests/common/world.rs.

use crate::common;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use common::world::{World, census, row, rows, utc, world};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tally::domain::Period;
use tally::domain::definition::CollectionDef;
use tally::landing::pack::{self, Pack, Read};
use tally::returns::build::{Artifact, build};
use tally::returns::scheduled;

fn period(p: &str) -> Period {
    Period::parse(p).unwrap()
}

async fn def(w: &World, collection: &str) -> CollectionDef {
    w.registry
        .require_listed(collection, utc("2026-07-10T12:00:00Z"))
        .await
        .unwrap()
        .def
}

/// Packs the given units of a collection, as `tally lake pack` does, in row groups of
/// `rows` rows.
async fn pack_in(w: &World, collection: &str, units: &[&str], rows: usize) -> Vec<pack::Packed> {
    let def = def(w, collection).await;
    let units: Vec<Period> = units.iter().map(|u| period(u)).collect();
    pack::pack_units(
        w.registry.store().as_ref(),
        &w.lake,
        &def,
        &units,
        utc("2026-07-10T12:00:00Z"),
        rows,
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

async fn pack(w: &World, collection: &str, units: &[&str]) -> Vec<pack::Packed> {
    pack_in(w, collection, units, pack::ROW_GROUP_ROWS).await
}

async fn latest(w: &World, collection: &str, unit: &str) -> Option<Pack> {
    Pack::latest(&w.lake, &def(w, collection).await, &period(unit)).unwrap()
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
    pack::plan(&w.lake, &def(w, collection).await, &current).unwrap()
}

fn read_all(path: &Path) -> RecordBatch {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let schema = reader.schema().clone();
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// Every member's rows in the unit's latest pack are exactly its version file's rows, and
/// the members are the unit's current versions.
async fn assert_pack_holds_its_versions(w: &World, collection: &str, unit: &str) {
    let pack = latest(w, collection, unit).await.expect("a pack");
    let data = read_all(&pack.data_path());
    assert_eq!(data.num_rows() as u64, pack.manifest.rows);
    let u = period(unit);
    let kind = def(w, collection).await.frequency.period;
    let current = w
        .registry
        .store()
        .current_versions(
            collection,
            &Period::containing(kind, u.first_day()).to_string(),
            &Period::containing(kind, u.end().pred_opt().unwrap()).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(current.len(), pack.manifest.members.len());
    for v in &current {
        let m = pack
            .manifest
            .members
            .iter()
            .find(|m| m.provider == v.provider && m.period == v.period)
            .unwrap_or_else(|| panic!("{} {} is not in the pack", v.provider, v.period));
        assert_eq!(m.version, v.version);
        let own = read_all(Path::new(&v.path));
        let slice = data.slice(m.first_row as usize, m.rows as usize);
        assert_eq!(
            slice.num_rows(),
            own.num_rows(),
            "{} {}",
            v.provider,
            v.period
        );
        for (i, field) in slice.schema().fields().iter().enumerate() {
            let theirs = own.column_by_name(field.name()).unwrap();
            assert_eq!(
                slice.column(i).to_data(),
                theirs.to_data(),
                "{} of {} {}",
                field.name(),
                v.provider,
                v.period
            );
        }
    }
}

const CASES: [(&str, &str); 4] = [
    ("uec-daily-sitrep", "2026-04-15"),
    ("uec-daily-sitrep", "2026-05-31"),
    ("kh03-quarterly", "2026-27-Q1"),
    ("care-home-occupancy", "2026-04"),
];

/// Every one of `CASES` built into `root`.
async fn build_cases(w: &World, root: &Path) -> Vec<Artifact> {
    let mut out = Vec::new();
    for (name, p) in CASES {
        out.push(build_into(w, root, name, p).await);
    }
    out
}

/// The world with some days made different from the rest, so that rows read from the wrong
/// place in a pack change a return.
async fn varied_world() -> World {
    let w = world().await;
    for (trust, day, occupied) in [
        ("RXA", "2026-04-02", "20,19"),
        ("RXA", "2026-04-15", "20,12"),
        ("RXB", "2026-04-16", "30,30"),
        ("RXC", "2026-04-30", "10,3"),
        ("RXB", "2026-05-31", "30,11"),
        ("RXA", "2026-06-01", "20,16"),
    ] {
        let d: NaiveDate = day.parse().unwrap();
        let from = match trust {
            "RXA" if d.format("%m").to_string() == "05" => "20,15",
            "RXA" => "20,18",
            "RXB" => "30,27",
            _ => "10,10",
        };
        let text = census(trust, d).replacen(from, occupied, 1);
        w.land("ward-bed-census", trust, day, &text, true).await;
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_read_from_packs_are_byte_for_byte_those_read_from_files() {
    let w = varied_world().await;
    let from_files = w.dir.path().join("from-files");
    let before = build_cases(&w, &from_files).await;

    let census = pack(&w, "ward-bed-census", &["2026-04", "2026-05", "2026-06"]).await;
    // April: three trusts for 30 days; May and June: RXC had closed.
    let members: Vec<usize> = census.iter().map(|p| p.members).collect();
    assert_eq!(members, [90, 62, 60]);
    // RXA sends 6 ward rows a day, RXB and RXC 2.
    assert_eq!(census[0].rows, 30 * (6 + 2 + 2));
    assert!(census.iter().all(|p| p.number == Some(1)));
    let homes = pack(&w, "care-home-capacity", &["2026-04"]).await;
    assert_eq!((homes[0].members, homes[0].number), (6, Some(1)));
    for unit in ["2026-04", "2026-05", "2026-06"] {
        assert_pack_holds_its_versions(&w, "ward-bed-census", unit).await;
    }
    assert_pack_holds_its_versions(&w, "care-home-capacity", "2026-04").await;

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
async fn packs_of_many_row_groups_give_the_same_returns() {
    let w = varied_world().await;
    let from_files = w.dir.path().join("from-files");
    let before = build_cases(&w, &from_files).await;
    // Row groups of 7 rows: most trust-days straddle two, and a day's slice spans several.
    pack_in(&w, "ward-bed-census", &["2026-04", "2026-05", "2026-06"], 7).await;
    pack_in(&w, "care-home-capacity", &["2026-04"], 4).await;
    let pack = latest(&w, "ward-bed-census", "2026-04").await.unwrap();
    let groups = datafusion::parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(pack.data_path()).unwrap(),
    )
    .map(|r| {
        use datafusion::parquet::file::reader::FileReader;
        r.metadata().num_row_groups()
    })
    .unwrap();
    assert_eq!(groups, 300usize.div_ceil(7));
    assert_pack_holds_its_versions(&w, "ward-bed-census", "2026-04").await;

    let from_packs = w.dir.path().join("from-packs");
    for ((name, p), before) in CASES.iter().zip(&before) {
        let after = build_into(&w, &from_packs, name, p).await;
        assert_eq!(
            after.manifest.data_sha256, before.manifest.data_sha256,
            "{name} {p}"
        );
    }

    // An amendment in the middle of April makes the month's pack a selection of many ranges
    // across many row groups: the returns are those built from the version files alone.
    let day = NaiveDate::from_ymd_opt(2026, 4, 20).unwrap();
    let text = census("RXB", day).replacen("30,27", "30,21", 1);
    w.land("ward-bed-census", "RXB", "2026-04-20", &text, true)
        .await;
    let from_packs = build_cases(&w, &w.dir.path().join("amended-from-packs")).await;
    std::fs::rename(w.lake.root.join("_packs"), w.dir.path().join("packs-aside")).unwrap();
    let files_only = w.dir.path().join("amended-from-files");
    for ((name, p), got) in CASES.iter().zip(&from_packs) {
        let want = build_into(&w, &files_only, name, p).await;
        assert_eq!(
            got.manifest.data_sha256, want.manifest.data_sha256,
            "{name} {p}"
        );
    }
    assert_ne!(
        from_packs[2].manifest.data_sha256, before[2].manifest.data_sha256,
        "the amendment changes KH03"
    );
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
    }) = reads.iter().find(|r| r.is_pack())
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
    // amendment read from its file, after them; the month is one whole pack again.
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((repacked[0].number, repacked[0].members), (Some(2), 90));
    assert_pack_holds_its_versions(&w, "ward-bed-census", "2026-04").await;
    let latest = latest(&w, "ward-bed-census", "2026-04").await.unwrap();
    let m = latest
        .manifest
        .members
        .iter()
        .find(|m| m.provider == "RXA" && m.period == "2026-04-15")
        .unwrap();
    // After the 89 kept members' rows: RXA's other 29 days of 6, RXB's and RXC's 30 of 2.
    assert_eq!((m.version, m.first_row), (2, 29 * 6 + 30 * 2 + 30 * 2));
    let reads = plan(&w, "ward-bed-census", "2026-04-01", "2026-04-30").await;
    assert!(
        matches!(reads.as_slice(), [Read::Pack { ranges: None, .. }]),
        "{reads:?}"
    );
    // The amended day read from the new pack, where it lies at the end, in a fresh folder:
    // the same bytes as the build that read it from its own file.
    let fresh = w.dir.path().join("fresh");
    let day = build_into(&w, &fresh, "uec-daily-sitrep", "2026-04-15").await;
    assert_eq!(day.manifest.data_sha256, amended.manifest.data_sha256);
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
    let same = |root: &str| {
        let root = w.dir.path().join(root);
        let want = want.manifest.data_sha256.clone();
        let w = &w;
        async move {
            let got = build_into(w, &root, "kh03-quarterly", "2026-27-Q1").await;
            assert_eq!(got.manifest.data_sha256, want);
        }
    };

    // A killed packing leaves a temporary folder: never read.
    let tmp = unit.join(".tmp-p2-0123456789abcdef");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("data.parquet"), b"PAR1 half a file").unwrap();
    let quarter = plan(&w, "ward-bed-census", "2026-04-01", "2026-06-30").await;
    assert!(quarter.iter().any(Read::is_pack));

    // Bytes overwritten inside the data, its size unchanged: the pack passes its checks, so
    // the build tries it, cannot read it, and builds again from the versions' own files.
    let data = unit.join("p1/data.parquet");
    let good = std::fs::read(&data).unwrap();
    let mut bad = good.clone();
    bad[4..200].fill(0);
    std::fs::write(&data, &bad).unwrap();
    same("overwritten").await;
    // Packing again cannot copy from it either, so it packs from the versions' files.
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((repacked[0].number, repacked[0].members), (Some(2), 90));
    assert_pack_holds_its_versions(&w, "ward-bed-census", "2026-04").await;
    std::fs::remove_dir_all(unit.join("p2")).unwrap();
    // The build marked the pack it could not read, so nothing tries it again.
    assert!(latest(&w, "ward-bed-census", "2026-04").await.is_none());
    std::fs::remove_file(unit.join("p1/damaged.txt")).unwrap();

    // A pack whose data is cut short is passed over before anything reads it.
    std::fs::write(&data, &good[..good.len() / 2]).unwrap();
    let quarter = plan(&w, "ward-bed-census", "2026-04-01", "2026-06-30").await;
    assert!(quarter.iter().all(|r| matches!(r, Read::File(_))));
    same("cut-short").await;

    // So is one whose manifest promises rows its data does not hold.
    std::fs::write(&data, &good).unwrap();
    let manifest = unit.join("p1/members.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("\"rows\":300", "\"rows\":301", 1)).unwrap();
    assert!(latest(&w, "ward-bed-census", "2026-04").await.is_none());
    std::fs::write(&manifest, &text).unwrap();
    assert!(latest(&w, "ward-bed-census", "2026-04").await.is_some());

    // And one with no readable manifest. Packing again makes a whole pack beside them.
    std::fs::create_dir_all(unit.join("p2")).unwrap();
    std::fs::write(unit.join("p2/members.json"), b"{ not json").unwrap();
    assert!(latest(&w, "ward-bed-census", "2026-04").await.is_none());
    let repacked = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!((repacked[0].number, repacked[0].members), (Some(3), 90));
    same("repacked").await;
    // The temporary folder is young, so a packing still under way elsewhere keeps it.
    assert!(tmp.exists());

    // Packs superseded over an hour ago are removed when the unit is next looked at, even
    // with nothing new to pack; the pack that superseded them, and anything newer, stay.
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for dir in ["p1", "p2", "p3", ".tmp-p2-0123456789abcdef"] {
        std::fs::File::open(unit.join(dir))
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    let again = pack(&w, "ward-bed-census", &["2026-04"]).await;
    assert_eq!(again[0].number, None);
    let left: Vec<String> = std::fs::read_dir(&unit)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["p3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_packs_each_month_as_it_closes_and_again_after_an_amendment() {
    let w = world().await;
    let catalogue = common::license_returns(&w.registry, &common::repo().join("queries")).await;
    let builder = scheduled::Builder::new(
        w.registry.clone(),
        std::sync::Arc::new(catalogue),
        w.lake.clone(),
        w.returns_dir(),
    )
    .unwrap();
    let census = |unit: &str, n: u32| ("ward-bed-census".to_string(), unit.to_string(), n);
    // 30 April's census is due by noon on 1 May (BST): April is not closed at 11:30 BST.
    let round = builder.round(utc("2026-05-01T10:30:00Z")).await;
    assert!(round.pack_failed.is_empty(), "{:?}", round.pack_failed);
    assert!(round.packed.is_empty(), "{:?}", round.packed);
    let round = builder.round(utc("2026-05-01T11:30:00Z")).await;
    assert_eq!(round.packed, [census("2026-04", 1)]);
    assert!(round.failed.is_empty(), "{:?}", round.failed);
    let round = builder.round(utc("2026-05-01T11:31:00Z")).await;
    assert!(round.packed.is_empty() && round.built.is_empty());

    // RXB amends 10 April: the month is packed again and that day alone rebuilt.
    let day = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
    let corrected = census_text("RXB", day, ",30,27", ",30,29");
    w.land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    let round = builder.round(utc("2026-05-01T11:40:00Z")).await;
    assert_eq!(round.packed, [census("2026-04", 2)]);
    assert_eq!(
        round.built,
        [("uec-daily-sitrep".to_string(), "2026-04-10".to_string(), 2)]
    );

    // A month that cannot be packed (one of its files has gone) is reported, its days are
    // still built from the files that are there, and it is not tried again for an hour.
    let gone = w
        .lake
        .root
        .join("ward-bed-census/period=2026-05-20/provider=RXA/v1.parquet");
    let kept = w.dir.path().join("kept.parquet");
    std::fs::rename(&gone, &kept).unwrap();
    let round = builder.round(utc("2026-06-01T11:30:00Z")).await;
    assert_eq!(round.pack_failed.len(), 1, "{:?}", round.pack_failed);
    assert!(
        round.pack_failed[0].1.contains("2026-05-20"),
        "{:?}",
        round.pack_failed
    );
    // (April's care-home capacity, due by 6 May, is packed in this round.)
    assert_eq!(
        round.packed,
        [("care-home-capacity".to_string(), "2026-04".to_string(), 1)]
    );
    assert!(round.built.iter().any(|(_, p, _)| p == "2026-05-31"));
    std::fs::rename(&kept, &gone).unwrap();
    let round = builder.round(utc("2026-06-01T12:00:00Z")).await;
    assert!(round.pack_failed.is_empty() && round.packed.is_empty());
    let round = builder.round(utc("2026-06-01T12:31:00Z")).await;
    assert_eq!(round.packed, [census("2026-05", 1)]);

    // Once April's last amendment window has shut (28 days after its last deadline), its
    // census is not looked at again, even if an amendment lands.
    let corrected = census_text("RXB", day, ",30,27", ",30,28");
    w.land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    let round = builder.round(utc("2026-06-01T12:40:00Z")).await;
    assert!(round.packed.is_empty(), "{:?}", round.packed);
    let april = latest(&w, "ward-bed-census", "2026-04").await.unwrap();
    assert_eq!(april.manifest.number, 2);
    drop(builder);
}

/// A trust's census for a day with one figure changed.
fn census_text(trust: &str, day: NaiveDate, from: &str, to: &str) -> String {
    let text = census(trust, day);
    assert!(text.contains(from));
    text.replacen(from, to, 1)
}
