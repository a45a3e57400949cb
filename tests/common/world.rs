//! The returns tests' world: a small lake landed through the real pull path, and helpers
//! to read what a build made.
//!
//! Three trusts (one in the North West that closed on 1 May 2026) send the daily ward bed
//! census for every day of 2026-27 Q1 they were open, and six care homes in two local
//! authorities send April's capacity.

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tally::connectors::file::FileConfig;
use tally::connectors::{ConnectorConfig, Source, Sources};
use tally::domain::Period;
use tally::domain::RunKey;
use tally::landing::lake::Lake;
use tally::registry::Registry;
use tally::returns::build::{Artifact, build};
use tally::returns::export::{ExportFormat, export};
use tally::returns::{Catalogue, ReturnDef};

use super::{TestDb, load, repo};

pub const CENSUS: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";
pub const HOMES: &str = "snapshot_date,max_capacity,occupied_beds,vacant_reserved,vacant_accepting";

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A ward's row: ward, sector, stay, age group, bed class, care type, available, occupied.
pub type Ward = (
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
pub fn census(trust: &str, day: NaiveDate) -> String {
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

pub struct World {
    pub _db: TestDb,
    pub dir: tempfile::TempDir,
    pub registry: std::sync::Arc<Registry>,
    pub sources: Sources,
    pub lake: Lake,
    pub catalogue: Catalogue,
}

impl World {
    pub fn returns_dir(&self) -> PathBuf {
        self.dir.path().join("returns")
    }

    pub fn def(&self, name: &str) -> &ReturnDef {
        self.catalogue.get(name).unwrap()
    }

    /// Lands one extract through the file source, the morning after its period.
    pub async fn land(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        csv: &str,
        again: bool,
    ) {
        let end = Period::parse(period).unwrap().end();
        let now = utc(&format!("{end}T08:00:00Z"));
        let p = self
            .pull_file(collection, provider, period, csv, now, again)
            .await;
        assert!(
            matches!(p.status.as_str(), "landed" | "late" | "amended"),
            "{collection} {provider} {period}: {}",
            p.message
        );
    }

    /// Pulls one census day for `trust` from the drop folder at `now`, as a further
    /// version when `again`.
    pub async fn pull_census(
        &self,
        trust: &str,
        day: &str,
        csv: &str,
        now: DateTime<Utc>,
        again: bool,
    ) -> tally::schedule::pull::Pulled {
        self.pull_file("ward-bed-census", trust, day, csv, now, again)
            .await
    }

    /// Puts `csv` in the drop folder as `provider`'s `collection` for `period` and pulls
    /// it at `now`, as a further version when `again`.
    pub async fn pull_file(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        csv: &str,
        now: DateTime<Utc>,
        again: bool,
    ) -> tally::schedule::pull::Pulled {
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
        tally::schedule::pull::pull(
            &self.registry,
            &self.sources,
            &self.lake,
            &key,
            "test",
            now,
            again,
        )
        .await
        .unwrap()
    }

    /// Imports one more trust, RXD, at `registered`, and retires the care-home capacity
    /// collection at `retired`: a change to the register of each cause.
    pub async fn add_trust_and_retire_homes(
        &self,
        registered: DateTime<Utc>,
        retired: DateTime<Utc>,
    ) {
        let csv = self.dir.path().join("more.csv");
        std::fs::write(
            &csv,
            "code,name,kind,region\nRXD,Dunmore,acute_trust,London\n",
        )
        .unwrap();
        self.registry
            .import_providers(&tally::providers::read_csv(&csv).unwrap(), registered)
            .await
            .unwrap();
        self.registry
            .change(
                "care-home-capacity",
                tally::registry::governance::StatusChange::Retire,
                super::dap(),
                "folded into the census",
                retired,
            )
            .await
            .unwrap();
    }

    pub async fn build(&self, name: &str, period: &str) -> Artifact {
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

pub async fn world() -> World {
    let db = TestDb::sqlite();
    let registry = db.registry().await;
    let at = utc("2026-03-01T09:00:00Z");
    for slug in ["ward-bed-census", "care-home-capacity"] {
        registry
            .propose(&load(slug), "NHS England", at)
            .await
            .unwrap();
        super::list_owed_at_once(&registry, slug, at).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.csv");
    std::fs::write(
        &providers,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXA,Ashford Hospitals,acute_trust,London,QMJ,,,,\n\
         RXB,Bramley Health,acute_trust,London,QRV,,,,\n\
         RXC,Corby Infirmary,acute_trust,North West,QOP,,,2026-05-01,RXB\n\
         1-101,Oak House,care_home,London,QMJ,Camden,,,\n\
         1-102,Elm Lodge,care_home,London,QMJ,Camden,,,\n\
         1-103,Ash Court,care_home,London,QMJ,Camden,,,\n\
         1-201,Birch View,care_home,North West,QOP,Wigan,,,\n\
         1-202,Pine Manor,care_home,North West,QOP,Wigan,,,\n\
         1-203,Yew Gardens,care_home,North West,,Wigan,,,\n",
    )
    .unwrap();
    registry
        .import_providers(
            &tally::providers::read_csv(&providers).unwrap(),
            crate::common::registered(),
        )
        .await
        .unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    let sources = Sources::of(
        ["ward-bed-census", "care-home-capacity"]
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
        dir.path().to_path_buf(),
    );
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
pub fn golden(def: &ReturnDef, artifact: &Artifact, name: &str) {
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

pub fn rows(artifact: &Artifact) -> Vec<serde_json::Value> {
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
    let wrapped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    serde_json::from_value(wrapped["rows"].clone()).unwrap()
}

pub fn row<'a>(rows: &'a [serde_json::Value], code: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["code"] == code || r["local_authority"] == code)
        .unwrap_or_else(|| panic!("no row {code}"))
}
