//! `tally returns` builds, shows and exports and says what is wrong; `tally lake pack`
//! gathers a month and says what it did.

use crate::{CENSUS_HEADER, Tally, common, with_file_source, write};

#[test]
fn the_returns_commands_build_show_and_export_and_say_what_is_wrong() {
    let t = Tally::new();
    // Nothing listed yet: every return says why it cannot be built.
    let csv = write(
        t.data.path(),
        "someone.csv",
        "code,name,kind,region\nRXZ,Zeal NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &csv]);
    let out = t.expect(4, &["returns", "list"]);
    assert!(
        out.contains("ward-bed-census is not a licensed collection"),
        "{out}"
    );
    // The census listed ten days ago (by the library: the command line lists today).
    let london = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let listed = chrono::Utc::now() - chrono::Duration::days(10);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = format!("sqlite://{}", t.data.path().join("tally.db").display());
        let registry = tally::registry::Registry::new(
            tally::store::connect(&url).await.unwrap(),
            chrono_tz::Europe::London,
        );
        let trusts = ["RXA".to_string()];
        common::list_for_trusts(
            &registry,
            t.data.path(),
            &trusts,
            &common::load("ward-bed-census"),
            listed,
        )
        .await;
    });
    let out = t.expect(4, &["returns", "list"]);
    assert!(
        out.contains("uec-daily-sitrep") && out.contains("ready"),
        "{out}"
    );
    // Two days ago is past its deadline. Nothing has landed, so the artifact is empty and
    // says it is incomplete.
    let day = (london - chrono::Duration::days(2)).to_string();
    let out = t.expect(
        0,
        &["returns", "build", "uec-daily-sitrep", "--period", &day],
    );
    assert!(
        out.contains("0 of 2 providers sent every period owed"),
        "{out}"
    );
    assert!(out.contains("missing RXA Trust 0"), "{out}");
    assert!(out.contains("missing RXZ Zeal NHS Trust"), "{out}");
    assert!(out.contains("Incomplete"), "{out}");
    let out = t.expect(
        0,
        &["returns", "build", "uec-daily-sitrep", "--period", &day],
    );
    assert!(out.contains("Unchanged: version 1"), "{out}");
    // Today is not over, so nobody owes it yet: building it is an error that says so, and
    // keeps nothing.
    let today = london.to_string();
    let out = t.expect(
        1,
        &["returns", "build", "uec-daily-sitrep", "--period", &today],
    );
    assert!(out.contains("is not owed yet"), "{out}");
    assert!(
        !t.data
            .path()
            .join(format!("returns/uec-daily-sitrep/period={today}"))
            .exists()
    );
    let out = t.expect(
        0,
        &["returns", "show", "uec-daily-sitrep", "--period", &day],
    );
    assert!(out.contains("ga_occupancy_pct"), "{out}");
    let csv = t.data.path().join("sitrep.csv");
    let out = t.expect(
        0,
        &[
            "returns",
            "export",
            "uec-daily-sitrep",
            "--period",
            &day,
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.contains("sitrep.csv.manifest.json"), "{out}");
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("level,region,icb,code,name,")
    );
    // Its CSVW metadata beside it, under the name CSVW tools look for, naming the file.
    assert!(out.contains("sitrep.csv-metadata.json"), "{out}");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(t.data.path().join("sitrep.csv-metadata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["url"], "sitrep.csv");
    // The SDMX structure its SDMX-CSV refers to.
    let xml = t.data.path().join("sitrep.structure.xml");
    t.expect(
        0,
        &[
            "returns",
            "structure",
            "uec-daily-sitrep",
            "--out",
            xml.to_str().unwrap(),
        ],
    );
    let xml = std::fs::read_to_string(xml).unwrap();
    assert!(
        xml.contains("<str:DataStructure id=\"UEC_DAILY_SITREP\""),
        "{xml}"
    );
    assert!(xml.contains("<str:Attribute id=\"NAME\""), "{xml}");
    // A range builds each period with a progress bar; days before the listing fail.
    let before = (london - chrono::Duration::days(11)).to_string();
    let out = t.expect(
        4,
        &[
            "returns",
            "build",
            "uec-daily-sitrep",
            "--period",
            &before,
            "--to",
            &(london - chrono::Duration::days(10)).to_string(),
        ],
    );
    assert!(
        out.contains("1 built, 0 unchanged, 1 could not be built"),
        "{out}"
    );
    assert!(out.contains("is outside the data"), "{out}");
    // Bad requests.
    assert!(
        t.expect(1, &["returns", "build", "uec-weekly", "--period", &today])
            .contains("there is no return")
    );
    assert!(
        t.expect(
            1,
            &[
                "returns",
                "show",
                "kh03-quarterly",
                "--period",
                "2026-27-Q3"
            ]
        )
        .contains("has not been built")
    );
    let out = t.expect(
        1,
        &[
            "returns",
            "export",
            "uec-daily-sitrep",
            "--period",
            &day,
            "--format",
            "xlsx",
            "--out",
            "/no/such/folder/x.xlsx",
        ],
    );
    assert!(out.contains("does not exist"), "{out}");
    assert!(
        t.expect(
            2,
            &[
                "returns",
                "export",
                "uec-daily-sitrep",
                "--period",
                &today,
                "--format",
                "pdf",
                "--out",
                "x"
            ]
        )
        .contains("invalid value")
    );
}

#[test]
fn lake_pack_gathers_a_month_and_says_what_it_did() {
    let t = Tally::new();
    with_file_source(&t);
    for day in ["2026-11-24", "2026-11-25"] {
        let csv = write(
            t.data.path(),
            &format!("census-{day}.csv"),
            &format!(
                "{CENSUS_HEADER}\n{day},RXA01,W1,general_acute,overnight,adult,core,general,20,17\n\
                 {day},RXA01,W2,maternity,overnight,adult,core,general,10,6\n"
            ),
        );
        t.expect(
            0,
            &[
                "upload",
                "ward-bed-census",
                "--provider",
                "RXA",
                "--period",
                day,
                &csv,
            ],
        );
    }
    // Listed today, so no month of it has closed yet.
    let out = t.expect(0, &["lake", "pack"]);
    assert!(out.contains("Nothing to pack"), "{out}");
    let out = t.expect(
        0,
        &["lake", "pack", "ward-bed-census", "--period", "2026-11-24"],
    );
    assert!(
        out.contains("ward-bed-census 2026-11: packed 2 extracts (4 rows) as pack 1."),
        "{out}"
    );
    assert!(
        t.data
            .path()
            .join("lake/_packs/ward-bed-census/2026-11/p1/data.parquet")
            .is_file()
    );
    let out = t.expect(
        0,
        &[
            "lake",
            "pack",
            "ward-bed-census",
            "--period",
            "2026-10",
            "--to",
            "2026-11",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["packed"][0]["unit"], "2026-10");
    assert_eq!(v["packed"][0]["members"], 0);
    assert_eq!(v["packed"][1]["number"], serde_json::Value::Null, "{out}");
    assert_eq!(v["packed"][1]["members"], 2);
    // Bad requests change nothing.
    let out = t.expect(1, &["lake", "pack", "kh03-manual", "--period", "2026-11"]);
    assert!(out.contains("not a licensed collection"), "{out}");
    let out = t.expect(1, &["lake", "pack", "--period", "2026-13"]);
    assert!(out.contains("is not a period"), "{out}");
    let out = t.expect(
        1,
        &["lake", "pack", "--period", "2026-11", "--to", "2026-10"],
    );
    assert!(out.contains("ends before"), "{out}");
    assert!(
        t.expect(2, &["lake", "pack", "--to", "2026-11"])
            .contains("--period")
    );
}
