//! The national returns over a small lake landed through the real pull path: golden outputs
//! for the three bundled returns, KH03 against averages worked out by hand, an amendment
//! that rebuilds only its own period, disclosure control on person counts, byte-identical
//! rebuilds, and the errors bad requests get.
//!
//! The fixture: three trusts (one in the North West that closed on 1 May 2026) sending the
//! daily ward bed census for every day of 2026-27 Q1 they were open, and six care homes in
//! two local authorities sending April's capacity.

mod common;

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{TestDb, dap, load, repo};
use tally::connectors::file::FileConfig;
use tally::connectors::{ConnectorConfig, Source, Sources};
use tally::landing::lake::Lake;
use tally::registry::Registry;
use tally::returns::build::{Artifact, build};
use tally::returns::export::{ExportFormat, export};
use tally::returns::{Catalogue, ReturnDef};
use tally::schedule::period::Period;
use tally::schedule::timetable::RunKey;

const CENSUS: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";
const HOMES: &str = "snapshot_date,max_capacity,occupied_beds,vacant_reserved,vacant_accepting";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A ward's row: ward, sector, stay, age group, bed class, care type, available, occupied.
type Ward = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
    u32,
);

/// One day's census for a trust. RXA's adult core ward has 18 of 20 beds occupied, 15 in
/// May; everything else is the same every day.
fn census(trust: &str, day: NaiveDate) -> String {
    let site = format!("{trust}01");
    let rows: Vec<Ward> = match trust {
        "RXA" => {
            let w1 = if day.format("%m").to_string() == "05" {
                15
            } else {
                18
            };
            vec![
                (
                    "W1",
                    "general_acute",
                    "overnight",
                    "adult",
                    "core",
                    "general",
                    20,
                    w1,
                ),
                (
                    "W2",
                    "general_acute",
                    "overnight",
                    "paediatric",
                    "core",
                    "general",
                    10,
                    7,
                ),
                (
                    "W3",
                    "general_acute",
                    "overnight",
                    "adult",
                    "escalation",
                    "general",
                    5,
                    5,
                ),
                (
                    "W4",
                    "general_acute",
                    "overnight",
                    "adult",
                    "core",
                    "critical_care",
                    8,
                    6,
                ),
                (
                    "W5",
                    "maternity",
                    "overnight",
                    "adult",
                    "core",
                    "general",
                    12,
                    9,
                ),
                (
                    "W6",
                    "general_acute",
                    "day_only",
                    "adult",
                    "core",
                    "general",
                    6,
                    4,
                ),
            ]
        }
        "RXB" => vec![
            (
                "W1",
                "general_acute",
                "overnight",
                "adult",
                "core",
                "general",
                30,
                27,
            ),
            (
                "W2",
                "mental_illness",
                "overnight",
                "adult",
                "core",
                "general",
                15,
                14,
            ),
        ],
        _ => vec![
            (
                "W1",
                "general_acute",
                "overnight",
                "adult",
                "core",
                "general",
                10,
                10,
            ),
            (
                "W2",
                "learning_disabilities",
                "overnight",
                "adult",
                "core",
                "general",
                4,
                2,
            ),
        ],
    };
    let mut csv = format!("{CENSUS}\n");
    for (ward, sector, stay, age, class, care, available, occupied) in rows {
        csv.push_str(&format!(
            "{day},{site},{ward},{sector},{stay},{age},{class},{care},{available},{occupied}\n"
        ));
    }
    csv
}

struct World {
    _db: TestDb,
    dir: tempfile::TempDir,
    registry: std::sync::Arc<Registry>,
    sources: Sources,
    lake: Lake,
    catalogue: Catalogue,
}

impl World {
    fn returns_dir(&self) -> PathBuf {
        self.dir.path().join("returns")
    }

    fn def(&self, name: &str) -> &ReturnDef {
        self.catalogue.get(name).unwrap()
    }

    /// Lands one extract through the file source, the morning after its period.
    async fn land(&self, collection: &str, provider: &str, period: &str, csv: &str, again: bool) {
        let period = Period::parse(period).unwrap();
        std::fs::write(
            self.dir
                .path()
                .join(format!("drop/{collection}_{provider}_{period}.csv")),
            csv,
        )
        .unwrap();
        let key = RunKey {
            collection: collection.into(),
            provider: provider.into(),
            period,
        };
        let now = utc(&format!("{}T08:00:00Z", period.end()));
        let p = tally::schedule::pull::pull(
            &self.registry,
            &self.sources,
            &self.lake,
            &key,
            "test",
            now,
            again,
        )
        .await
        .unwrap();
        assert!(
            matches!(p.status.as_str(), "landed" | "late"),
            "{collection} {provider} {period}: {}",
            p.message
        );
    }

    async fn build(&self, name: &str, period: &str) -> Artifact {
        build(
            &self.registry,
            &self.lake,
            &self.returns_dir(),
            self.def(name),
            &Period::parse(period).unwrap(),
            utc("2026-07-10T12:00:00Z"),
        )
        .await
        .unwrap()
    }
}

async fn world() -> World {
    let db = TestDb::sqlite();
    let registry = db.registry().await;
    let at = utc("2026-03-01T09:00:00Z");
    for slug in ["ward-bed-census", "care-home-capacity"] {
        registry
            .propose(&load(slug), "NHS England", at)
            .await
            .unwrap();
        registry
            .approve(slug, dap(), "listed for the returns", vec![], at)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.csv");
    std::fs::write(
        &providers,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXA,Ashford Hospitals,acute_trust,London,,,,,\n\
         RXB,Bramley Health,acute_trust,London,,,,,\n\
         RXC,Corby Infirmary,acute_trust,North West,,,,2026-05-01,RXB\n\
         1-101,Oak House,care_home,London,,Camden,,,\n\
         1-102,Elm Lodge,care_home,London,,Camden,,,\n\
         1-103,Ash Court,care_home,London,,Camden,,,\n\
         1-201,Birch View,care_home,North West,,Wigan,,,\n\
         1-202,Pine Manor,care_home,North West,,Wigan,,,\n\
         1-203,Yew Gardens,care_home,North West,,Wigan,,,\n",
    )
    .unwrap();
    registry
        .import_providers(&tally::providers::read_csv(&providers).unwrap())
        .await
        .unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    let sources = Sources {
        source: ["ward-bed-census", "care-home-capacity"]
            .iter()
            .map(|c| Source {
                collection: (*c).into(),
                provider: "*".into(),
                connector: ConnectorConfig::File(FileConfig {
                    folder: "drop".into(),
                    name: format!("{c}_{{provider}}_{{period}}.csv"),
                }),
            })
            .collect(),
        base: dir.path().to_path_buf(),
    };
    let lake = Lake::new(dir.path().join("lake"));
    let world = World {
        _db: db,
        registry: std::sync::Arc::new(registry),
        sources,
        lake,
        catalogue: Catalogue::load(&repo().join("queries")).unwrap(),
        dir,
    };
    let mut day = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    while day < NaiveDate::from_ymd_opt(2026, 7, 1).unwrap() {
        for trust in ["RXA", "RXB", "RXC"] {
            if trust == "RXC" && day >= NaiveDate::from_ymd_opt(2026, 5, 1).unwrap() {
                continue;
            }
            world
                .land(
                    "ward-bed-census",
                    trust,
                    &day.to_string(),
                    &census(trust, day),
                    false,
                )
                .await;
        }
        day += Duration::days(1);
    }
    for (home, capacity, occupied, reserved, accepting) in [
        ("1-101", 40, 36, 1, 3),
        ("1-102", 25, 25, 0, 0),
        ("1-103", 60, 51, 2, 7),
        ("1-201", 30, 22, 3, 5),
        ("1-202", 45, 44, 0, 1),
        ("1-203", 20, 15, 1, 4),
    ] {
        world
            .land(
                "care-home-capacity",
                home,
                "2026-04",
                &format!("{HOMES}\n2026-04-30,{capacity},{occupied},{reserved},{accepting}\n"),
                false,
            )
            .await;
    }
    world
}

/// The artifact as CSV, compared with the committed file; `TALLY_BLESS=1` rewrites it.
fn golden(def: &ReturnDef, artifact: &Artifact, name: &str) {
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("out.csv");
    export(def, artifact, ExportFormat::Csv, &csv).unwrap();
    let got = std::fs::read_to_string(&csv).unwrap();
    let path: PathBuf = repo().join("tests/fixtures/returns").join(name);
    if std::env::var_os("TALLY_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (TALLY_BLESS=1 writes it)", path.display()));
    assert_eq!(got, want, "{name} differs from its golden file");
}

fn rows(artifact: &Artifact) -> Vec<serde_json::Value> {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("out.json");
    let catalogue = Catalogue::load(&repo().join("queries")).unwrap();
    export(
        catalogue.get(&artifact.manifest.return_name).unwrap(),
        artifact,
        ExportFormat::Json,
        &json,
    )
    .unwrap();
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn row<'a>(rows: &'a [serde_json::Value], code: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["code"] == code || r["local_authority"] == code)
        .unwrap_or_else(|| panic!("no row {code}"))
}

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
        "title = \"Residents\"\ninputs = [\"care-home-capacity\"]\nperiod = \"month\"\n\
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
        text.contains("local_authority,Camden,110,125,89.6,,\r\n"),
        "{text}"
    );
    assert!(
        text.contains("local_authority,Wigan,80,95,85.3,,\r\n"),
        "{text}"
    );
    assert!(
        text.contains("tiny,Tiny,,9,,suppressed,suppressed\r\n"),
        "{text}"
    );
    assert!(text.contains("england,England,193,220,0.0,,\r\n"), "{text}");
    let manifest = std::fs::read_to_string(out.path().join("residents.csv.manifest.json")).unwrap();
    assert!(manifest.contains("tally-sdc-1"), "{manifest}");

    // XLSX marks the cell; SDMX-CSV flags it confidential.
    let sdmx = out.path().join("residents.sdmx.csv");
    export(def, &artifact, ExportFormat::SdmxCsv, &sdmx).unwrap();
    let sdmx = std::fs::read_to_string(sdmx).unwrap();
    assert!(sdmx.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,LEVEL,AREA,MEASURE,TIME_PERIOD,OBS_VALUE,OBS_STATUS,CONF_STATUS,COMPLETENESS\n"), "{sdmx}");
    assert!(
        sdmx.contains(
            "dataflow,TALLY:RESIDENTS(1.0),I,tiny,Tiny,residents,2026-04,,A,C,complete\n"
        ),
        "{sdmx}"
    );
    let xlsx = out.path().join("residents.xlsx");
    export(def, &artifact, ExportFormat::Xlsx, &xlsx).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    assert_eq!(book.sheet_names(), ["data", "notes"]);
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
    registry
        .approve("ward-bed-census", dap(), "ok", vec![], at)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.csv");
    std::fs::write(
        &providers,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
    )
    .unwrap();
    registry
        .import_providers(&tally::providers::read_csv(&providers).unwrap())
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
    let sidecar = "title = \"T\"\ninputs = [\"ward-bed-census\"]\nperiod = \"day\"\n[[columns]]\nname = \"level\"\n";
    std::fs::write(queries.path().join("sneaky.toml"), sidecar).unwrap();
    std::fs::write(
        queries.path().join("sneaky.sql"),
        "SELECT 'england' AS level FROM kh03_manual",
    )
    .unwrap();
    std::fs::write(queries.path().join("broken.toml"), sidecar).unwrap();
    std::fs::write(
        queries.path().join("broken.sql"),
        "SELECT level\nFROM ward_bed_census\nWHERE (",
    )
    .unwrap();
    let mine = Catalogue::load(queries.path()).unwrap();
    for (name, says) in [("sneaky", "kh03_manual"), ("broken", "broken.sql")] {
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
    std::fs::write(queries.path().join("typo.toml"), "title = \"T\"\ninputs = [\"ward-bed-census\"]\nperiod = \"fortnight\"\n[[columns]]\nname = \"level\"\n").unwrap();
    std::fs::write(queries.path().join("typo.sql"), "SELECT 1").unwrap();
    let e = Catalogue::load(queries.path()).unwrap_err().to_string();
    assert!(
        e.contains("typo.toml: period: unknown period \"fortnight\""),
        "{e}"
    );
    assert!(!root.join("sneaky").exists() && !root.join("broken").exists());

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
    let builder = tally::returns::scheduled::Builder::new(
        w.registry.clone(),
        std::sync::Arc::new(Catalogue::load(&repo().join("queries")).unwrap()),
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
