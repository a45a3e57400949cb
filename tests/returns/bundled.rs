//! The national returns over a small lake landed through the real pull path: golden outputs
//! for the three bundled returns, KH03 against averages worked out by hand, an amendment
//! that rebuilds only its own period, disclosure control on person counts, byte-identical
//! rebuilds, and the errors bad requests get.
//!
//! The fixture: three trusts (one in the North West that closed on 1 May 2026) sending the
//! daily ward bed census for every day of 2026-27 Q1 they were open, and six care homes in
//! two local authorities sending April's capacity (tests/common/world.rs).

use crate::common;

use std::path::PathBuf;

use chrono::NaiveDate;
use common::world::{HOMES, census, golden, row, rows, utc, world};
use common::{TestDb, load, repo};
use tally::domain::Period;
use tally::landing::lake::Lake;
use tally::returns::Catalogue;
use tally::returns::build::build;
use tally::returns::export::{ExportFormat, export};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_returns_match_their_golden_outputs_and_kh03_the_hand_worked_averages() {
    let w = world().await;

    // The daily SitRep for 15 April: all three trusts sent it.
    let sitrep = w.build("uec-daily-sitrep", "2026-04-15").await;
    assert!(sitrep.new && sitrep.manifest.completeness.complete);
    golden(
        w.def("uec-daily-sitrep"),
        &sitrep,
        "uec-daily-sitrep-2026-04-15.csv",
    );
    let r = rows(&sitrep);
    let rxa = row(&r, "RXA");
    // General and acute overnight, critical care apart: 20 + 10 + 5 available, 18 + 7 + 5
    // occupied; adult critical care 8 and 6; the day-only ward is not a SitRep bed.
    assert_eq!(
        (rxa["ga_available"].as_i64(), rxa["ga_occupied"].as_i64()),
        (Some(35), Some(30))
    );
    assert_eq!(rxa["ga_occupancy_pct"].as_f64(), Some(85.7));
    assert_eq!(
        (
            rxa["cc_adult_available"].as_i64(),
            rxa["cc_adult_occupied"].as_i64()
        ),
        (Some(8), Some(6))
    );
    let england = row(&r, "ENG");
    assert_eq!(england["ga_available"].as_i64(), Some(35 + 30 + 10));

    // On 15 May Corby has closed: it is not expected, and the SitRep is still complete.
    let may = w.build("uec-daily-sitrep", "2026-05-15").await;
    assert!(may.manifest.completeness.complete);
    assert_eq!(may.manifest.completeness.inputs[0].expected, 2);

    // KH03 for Q1, from 91 days of census.
    let kh03 = w.build("kh03-quarterly", "2026-27-Q1").await;
    assert!(
        kh03.manifest.completeness.complete,
        "{:?}",
        kh03.manifest.completeness
    );
    golden(
        w.def("kh03-quarterly"),
        &kh03,
        "kh03-quarterly-2026-27-Q1.csv",
    );
    let r = rows(&kh03);
    let rxa = row(&r, "RXA");
    // Worked by hand: general and acute overnight available 20 + 10 + 5 = 35 every day;
    // occupied 18 + 7 + 5 = 30 on the 60 days of April and June, 15 + 7 + 5 = 27 on the 31
    // days of May: (30 × 60 + 27 × 31) / 91 = 2637 / 91 = 28.98, shown as 29.0.
    assert_eq!(rxa["days_reported"].as_i64(), Some(91));
    assert_eq!(rxa["ga_overnight_available"].as_f64(), Some(35.0));
    assert_eq!(rxa["ga_overnight_occupied"].as_f64(), Some(29.0));
    assert_eq!(
        (
            rxa["ga_day_available"].as_f64(),
            rxa["ga_day_occupied"].as_f64()
        ),
        (Some(6.0), Some(4.0))
    );
    assert_eq!(rxa["mat_overnight_available"].as_f64(), Some(12.0));
    // Corby closed on 1 May: its averages are over the 30 days of April it was open.
    let rxc = row(&r, "RXC");
    assert_eq!(rxc["days_reported"].as_i64(), Some(30));
    assert_eq!(
        (
            rxc["ld_overnight_available"].as_f64(),
            rxc["ld_overnight_occupied"].as_f64()
        ),
        (Some(4.0), Some(2.0))
    );
    // England is the sum of the trusts' averages: 35 + 30 + 10 general and acute beds.
    assert_eq!(
        row(&r, "ENG")["ga_overnight_available"].as_f64(),
        Some(75.0)
    );

    // Care-home occupancy for April, per local authority.
    let homes = w.build("care-home-occupancy", "2026-04").await;
    assert!(homes.manifest.completeness.complete);
    golden(
        w.def("care-home-occupancy"),
        &homes,
        "care-home-occupancy-2026-04.csv",
    );
    let r = rows(&homes);
    let camden = row(&r, "Camden");
    assert_eq!(
        (
            camden["homes"].as_i64(),
            camden["capacity"].as_i64(),
            camden["occupied"].as_i64()
        ),
        (Some(3), Some(125), Some(112))
    );
    assert_eq!(camden["vacant"].as_i64(), Some(13));

    // Building again from the same inputs makes no new artifact; building into another
    // folder gives the same bytes.
    let again = w.build("uec-daily-sitrep", "2026-04-15").await;
    assert!(!again.new);
    assert_eq!(again.manifest.version, 1);
    let elsewhere = build(
        &w.registry,
        &w.lake,
        &w.dir.path().join("elsewhere"),
        w.def("uec-daily-sitrep"),
        &Period::parse("2026-04-15").unwrap(),
        utc("2026-08-01T00:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(elsewhere.data_path()).unwrap(),
        std::fs::read(sitrep.data_path()).unwrap(),
        "the same inputs give the same bytes"
    );
    assert_eq!(elsewhere.manifest.data_sha256, sitrep.manifest.data_sha256);

    // An amendment: RXA corrects 15 April. Rebuilding both days gives 15 April a new
    // version with the new figure; 16 April is untouched.
    w.build("uec-daily-sitrep", "2026-04-16").await;
    let corrected = census("RXA", NaiveDate::from_ymd_opt(2026, 4, 15).unwrap()).replace(
        "W1,general_acute,overnight,adult,core,general,20,18",
        "W1,general_acute,overnight,adult,core,general,20,11",
    );
    w.land("ward-bed-census", "RXA", "2026-04-15", &corrected, true)
        .await;
    let fifteenth = w.build("uec-daily-sitrep", "2026-04-15").await;
    let sixteenth = w.build("uec-daily-sitrep", "2026-04-16").await;
    assert!(fifteenth.new && fifteenth.manifest.version == 2);
    assert!(!sixteenth.new && sixteenth.manifest.version == 1);
    let r = rows(&fifteenth);
    assert_eq!(row(&r, "RXA")["ga_occupied"].as_i64(), Some(23));
    assert_eq!(row(&r, "ENG")["ga_occupied"].as_i64(), Some(23 + 27 + 10));
    let input = fifteenth
        .manifest
        .inputs
        .iter()
        .find(|i| i.provider == "RXA")
        .unwrap();
    assert_eq!(input.version, 2, "the manifest names the corrected version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_counts_are_suppressed_or_rounded_below_england_and_missing_providers_named() {
    let w = world().await;
    // A return that counts people (here: homes stand in for residents) to exercise the rule.
    let queries = tempfile::tempdir().unwrap();
    std::fs::write(
        queries.path().join("residents.sql"),
        "SELECT 'local_authority' AS level, COALESCE(p.local_authority, 'Unknown') AS area,
                SUM(c.occupied_beds) AS residents, SUM(c.max_capacity) AS places,
                ROUND(100.0 * SUM(c.occupied_beds) / SUM(c.max_capacity), 1) AS pct
         FROM care_home_capacity c JOIN providers p ON p.code = c.provider
         GROUP BY p.local_authority
         UNION ALL
         SELECT 'tiny', 'Tiny', 3, 9, 33.3
         UNION ALL
         SELECT 'england', 'England', SUM(occupied_beds), SUM(max_capacity), 0.0 FROM care_home_capacity",
    )
    .unwrap();
    std::fs::write(
        queries.path().join("residents.toml"),
        "title = \"Residents\"\ninputs = [\"care-home-capacity\"]\nexpects = [\"care_home\"]\nperiod = \"month\"\n\
         [[columns]]\nname = \"level\"\n[[columns]]\nname = \"area\"\n\
         [[columns]]\nname = \"residents\"\nmeasure = \"person\"\n\
         [[columns]]\nname = \"places\"\nmeasure = \"non_person\"\n\
         [[columns]]\nname = \"pct\"\nmeasure = \"non_person\"\nderived_from = [\"residents\", \"places\"]\n",
    )
    .unwrap();
    let catalogue = Catalogue::load(queries.path()).unwrap();
    let def = catalogue.get("residents").unwrap();
    let artifact = build(
        &w.registry,
        &w.lake,
        &w.returns_dir(),
        def,
        &Period::parse("2026-04").unwrap(),
        utc("2026-07-10T12:00:00Z"),
    )
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("residents.csv");
    export(def, &artifact, ExportFormat::Csv, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    // Camden 112 → 110, Wigan 81 → 80; Tiny's 3 is suppressed, and so is its percentage;
    // places are beds and stay as they are; England is not controlled.
    assert!(
        text.contains("local_authority,Camden,110,125,89.6,,,\r\n"),
        "{text}"
    );
    assert!(
        text.contains("local_authority,Wigan,80,95,85.3,,,\r\n"),
        "{text}"
    );
    assert!(
        text.contains("tiny,Tiny,,9,,suppressed,suppressed,\r\n"),
        "{text}"
    );
    assert!(
        text.contains("england,England,193,220,0.0,,,\r\n"),
        "{text}"
    );
    let manifest = std::fs::read_to_string(out.path().join("residents.csv.manifest.json")).unwrap();
    assert!(manifest.contains("tally-sdc-1"), "{manifest}");

    // XLSX marks the cell; SDMX-CSV flags it confidential.
    let sdmx = out.path().join("residents.sdmx.csv");
    export(def, &artifact, ExportFormat::SdmxCsv, &sdmx).unwrap();
    let sdmx = std::fs::read_to_string(sdmx).unwrap();
    assert!(sdmx.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,LEVEL,AREA,MEASURE,TIME_PERIOD,OBS_VALUE,OBS_STATUS,CONF_STATUS,COMPLETENESS\n"), "{sdmx}");
    // Withheld, not missing: no value (NaN, never zero), confidential.
    assert!(
        sdmx.contains(
            "dataflow,TALLY:RESIDENTS(1.0),I,tiny,Tiny,RESIDENTS,2026-04,NaN,A,C,complete\n"
        ),
        "{sdmx}"
    );
    let xlsx = out.path().join("residents.xlsx");
    export(def, &artifact, ExportFormat::Xlsx, &xlsx).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    assert_eq!(book.sheet_names(), ["data", "notes", "inputs"]);
    let data = book.worksheet_range("data").unwrap();
    let tiny: Vec<String> = data
        .rows()
        .find(|r| r[1] == "Tiny")
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(tiny, ["tiny", "Tiny", "[c]", "9", "[c]"]);

    // Missing providers are named: one home has not sent May.
    for home in ["1-101", "1-102", "1-103", "1-201", "1-202"] {
        w.land(
            "care-home-capacity",
            home,
            "2026-05",
            &format!("{HOMES}\n2026-05-31,20,10,1,9\n"),
            false,
        )
        .await;
    }
    let may = w.build("care-home-occupancy", "2026-05").await;
    let c = &may.manifest.completeness;
    assert!(!c.complete);
    assert_eq!((c.inputs[0].expected, c.inputs[0].received), (6, 5));
    assert_eq!(c.inputs[0].missing[0].code, "1-203");
    assert_eq!(c.inputs[0].missing[0].name, "Yew Gardens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_leave_nothing_behind() {
    let db = TestDb::sqlite();
    let registry = db.registry().await;
    let at = utc("2026-03-01T09:00:00Z");
    registry
        .propose(&load("ward-bed-census"), "NHS England", at)
        .await
        .unwrap();
    crate::common::list_owed_at_once(&registry, "ward-bed-census", at).await;
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.csv");
    std::fs::write(
        &providers,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
    )
    .unwrap();
    registry
        .import_providers(
            &tally::providers::read_csv(&providers).unwrap(),
            crate::common::registered(),
        )
        .await
        .unwrap();
    let catalogue = Catalogue::load(&repo().join("queries")).unwrap();
    let root = dir.path().join("returns");
    let now = utc("2026-07-10T12:00:00Z");

    let e = catalogue.get("uec-weekly").unwrap_err().to_string();
    assert!(
        e.contains("there is no return \"uec-weekly\"") && e.contains("uec-daily-sitrep"),
        "{e}"
    );

    let sitrep = catalogue.get("uec-daily-sitrep").unwrap();
    let e = build(
        &registry,
        &Lake::new(dir.path().join("lake")),
        &root,
        sitrep,
        &Period::parse("2025-01-01").unwrap(),
        now,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("2025-01-01 is outside the data"), "{e}");
    let e = build(
        &registry,
        &Lake::new(dir.path().join("lake")),
        &root,
        sitrep,
        &Period::parse("2026-04").unwrap(),
        now,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("built per day; 2026-04 is a month"), "{e}");
    // Care-home capacity is not listed in this register.
    let homes = catalogue.get("care-home-occupancy").unwrap();
    let e = format!(
        "{:#}",
        build(
            &registry,
            &Lake::new(dir.path().join("lake")),
            &root,
            homes,
            &Period::parse("2026-04").unwrap(),
            now
        )
        .await
        .unwrap_err()
    );
    assert!(
        e.contains("care-home-capacity is not a licensed collection"),
        "{e}"
    );

    // A query that reads a collection it does not declare, and one that does not parse.
    let queries = tempfile::tempdir().unwrap();
    let sidecar = "title = \"T\"\ninputs = [\"ward-bed-census\"]\nexpects = [\"acute_trust\"]\nperiod = \"day\"\n[[columns]]\nname = \"level\"\n";
    std::fs::write(queries.path().join("sneaky.toml"), sidecar).unwrap();
    std::fs::write(
        queries.path().join("sneaky.sql"),
        "SELECT 'england' AS level FROM kh03_manual",
    )
    .unwrap();
    std::fs::write(queries.path().join("broken.toml"), sidecar).unwrap();
    std::fs::write(
        queries.path().join("broken.sql"),
        "SELECT level\nFROM ward_bed_census\nWHERE level = = 1",
    )
    .unwrap();
    // A name that is not an item, on the query's second line.
    std::fs::write(queries.path().join("misnamed.toml"), sidecar).unwrap();
    std::fs::write(
        queries.path().join("misnamed.sql"),
        "SELECT 'england' AS level\nFROM ward_bed_census WHERE no_such_item > 0",
    )
    .unwrap();
    let mine = Catalogue::load(queries.path()).unwrap();
    for (name, says) in [
        ("sneaky", "kh03_manual"),
        ("broken", "broken.sql, line 3, column 15"),
        ("misnamed", "misnamed.sql, line 2, column 28"),
    ] {
        let e = format!(
            "{:#}",
            build(
                &registry,
                &Lake::new(dir.path().join("lake")),
                &root,
                mine.get(name).unwrap(),
                &Period::parse("2026-04-15").unwrap(),
                now
            )
            .await
            .unwrap_err()
        );
        assert!(
            e.contains("does not plan") && e.contains(says),
            "{name}: {e}"
        );
    }
    // A sidecar with a mistake is named with its line.
    std::fs::write(queries.path().join("typo.toml"), "title = \"T\"\ninputs = [\"ward-bed-census\"]\nexpects = [\"acute_trust\"]\nperiod = \"fortnight\"\n[[columns]]\nname = \"level\"\n").unwrap();
    std::fs::write(queries.path().join("typo.sql"), "SELECT 1").unwrap();
    let e = Catalogue::load(queries.path()).unwrap_err().to_string();
    assert!(
        e.contains("typo.toml: period: unknown period \"fortnight\""),
        "{e}"
    );
    for name in ["sneaky", "broken", "misnamed"] {
        assert!(!root.join(name).exists(), "{name}");
    }

    // An export to a folder that does not exist fails and writes nothing.
    let artifact = build(
        &registry,
        &Lake::new(dir.path().join("lake")),
        &root,
        sitrep,
        &Period::parse("2026-04-15").unwrap(),
        now,
    )
    .await
    .unwrap();
    assert!(!artifact.manifest.completeness.complete, "RXA sent nothing");
    let nowhere: PathBuf = dir.path().join("no/such/folder/out.csv");
    let e = format!(
        "{:#}",
        export(sitrep, &artifact, ExportFormat::Csv, &nowhere).unwrap_err()
    );
    assert!(e.contains("does not exist"), "{e}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".tmp")),
        "{leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timetable_builds_each_due_period_once_and_an_amendment_rebuilds_only_its_own() {
    let w = world().await;
    let catalogue = crate::common::license_returns(&w.registry, &repo().join("queries")).await;
    let builder = tally::returns::scheduled::Builder::new(
        w.registry.clone(),
        std::sync::Arc::new(catalogue),
        w.lake.clone(),
        w.returns_dir(),
    )
    .unwrap();
    // At 13:00 on 17 April (BST) the census for the 16th is past its 12-hour deadline; the
    // 17th is not. Every day back to the start of the amendment window is built.
    let now = utc("2026-04-17T12:00:00Z");
    let first = builder.round(now).await;
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let days: Vec<&str> = first
        .built
        .iter()
        .filter(|(n, _, _)| n == "uec-daily-sitrep")
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert_eq!(days.last(), Some(&"2026-04-16"));
    assert!(!days.contains(&"2026-04-17"));
    assert!(
        days.contains(&"2026-03-20") && !days.contains(&"2026-03-19"),
        "{days:?}"
    );
    // Care-home capacity for March is past its 5-day deadline; April's is not yet.
    assert!(
        first
            .built
            .iter()
            .any(|(n, p, _)| n == "care-home-occupancy" && p == "2026-03")
    );
    assert!(!first.built.iter().any(|(_, p, _)| p == "2026-04"));

    // Nothing has changed: nothing is built again.
    let second = builder.round(now).await;
    assert!(second.built.is_empty(), "{:?}", second.built);

    // An amendment to one trust-day rebuilds that day alone.
    let corrected =
        census("RXB", NaiveDate::from_ymd_opt(2026, 4, 10).unwrap()).replace(",30,27", ",30,29");
    w.land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    let third = builder.round(now).await;
    assert_eq!(
        third.built,
        [("uec-daily-sitrep".to_string(), "2026-04-10".to_string(), 2)]
    );
    drop(builder);
}

/// A return whose inputs are not all listed is owed nothing: the timetable builds none of
/// its periods and counts that as no failure, round after round.
#[tokio::test]
async fn a_return_whose_input_is_not_listed_is_not_built_and_not_failed() {
    let db = TestDb::sqlite();
    let registry = std::sync::Arc::new(db.registry().await);
    let at = utc("2026-04-01T09:00:00Z");
    registry
        .propose(&load("ward-bed-census"), "NHS England", at)
        .await
        .unwrap();
    crate::common::list_owed_at_once(&registry, "ward-bed-census", at).await;
    let dir = tempfile::tempdir().unwrap();
    // Every query licensed: only the unlisted input keeps the return from being built.
    let catalogue = crate::common::license_returns(&registry, &repo().join("queries")).await;
    let builder = tally::returns::scheduled::Builder::new(
        registry,
        std::sync::Arc::new(catalogue),
        Lake::new(dir.path().join("lake")),
        dir.path().join("returns"),
    )
    .unwrap();
    // Care-home capacity, care-home occupancy's input, was never proposed.
    let round = builder.round(utc("2026-06-10T12:00:00Z")).await;
    assert!(
        !round
            .failed
            .iter()
            .any(|(n, _, _)| n == "care-home-occupancy"),
        "{:?}",
        round.failed
    );
    assert!(
        !round
            .built
            .iter()
            .any(|(n, _, _)| n == "care-home-occupancy")
    );
}

/// A bundle past its limit of periods is refused in words before anything is read or written.
#[tokio::test]
async fn a_bundle_of_more_periods_than_it_holds_is_refused_in_words() {
    let w = world().await;
    let one = w.build("care-home-occupancy", "2026-04").await;
    let many = vec![one; tally::returns::bundle::MOST_PERIODS + 1];
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("too-many.zip");
    let e = tally::returns::bundle::bundle(
        w.def("care-home-occupancy"),
        &many,
        None,
        chrono::Utc::now(),
        out.path(),
        &zip,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("a bundle holds at most 400 periods"),
        "{e}"
    );
    assert!(!zip.exists(), "nothing is written");
}
