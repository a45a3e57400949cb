//! `tally pull` and `tally upload`: a pull from a file source lands and is recorded, a pull of
//! an unlisted collection is refused and recorded, and an upload lands as the next version
//! by the same checks as a pull.

use crate::{CENSUS_HEADER, Tally, with_file_source, write};

#[test]
fn a_pull_from_a_file_source_lands_and_is_recorded() {
    let t = Tally::new();
    let drop = with_file_source(&t);
    let sources = t.data.path().join("sources.toml");
    let pull = |args: &[&str], code: i32| {
        let mut full = vec![
            "pull",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-11-24",
        ];
        full.extend(args);
        let out = t
            .command(&full)
            .env("TALLY_SOURCES", &sources)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{full:?}: {text}");
        text
    };
    // Nothing dropped yet: the run fails and says where it looked.
    assert!(pull(&[], 4).contains("no extract at"));
    std::fs::write(
        drop.join("RXA_2026-11-24.csv"),
        format!("{CENSUS_HEADER},nhs_number\n2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general,20,18,943 476 5919\n2026-11-24,RXA01,W2,general_acute,overnight,adult,core,general,10,12,943 476 5870\n"),
    )
    .unwrap();
    let out = pull(&[], 0);
    assert!(out.contains("as version 1"), "{out}");
    assert!(out.contains("2 rows in, 1 accepted, 1 rejected"), "{out}");
    assert!(
        out.contains("Dropped columns that are not listed items: nhs_number."),
        "{out}"
    );
    assert!(
        out.contains("line 3: (row): breaks the rule occupied_beds <= available_beds"),
        "{out}"
    );
    // The input held an unlisted column, so only its hash is kept, never the file.
    let lake = t.data.path().join("lake");
    assert!(
        lake.join("ward-bed-census/period=2026-11-24/provider=RXA/v1.parquet")
            .is_file()
    );
    assert!(!lake.join("_raw").exists());
    // Landed already: the timetable's pull is skipped; --again lands version 2.
    assert!(pull(&[], 0).contains("has landed already"));
    std::fs::write(
        drop.join("RXA_2026-11-24.csv"),
        format!("{CENSUS_HEADER}\n2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general,20,19\n"),
    )
    .unwrap();
    assert!(pull(&["--again"], 0).contains("as version 2"));
    let raw: Vec<_> =
        std::fs::read_dir(lake.join("_raw/ward-bed-census/period=2026-11-24/provider=RXA"))
            .unwrap()
            .collect();
    assert_eq!(raw.len(), 1, "a clean input is kept for audit");
    // A broken extract is rejected and the current version stays.
    std::fs::write(
        drop.join("RXA_2026-11-24.csv"),
        "census_date;site_code\n2026-11-24;RXA01\n",
    )
    .unwrap();
    let out = pull(&["--again"], 4);
    assert!(out.contains("rejected"), "{out}");
    assert!(out.contains("another delimiter"), "{out}");
    assert!(
        lake.join("ward-bed-census/period=2026-11-24/provider=RXA/v2.parquet")
            .is_file()
    );
    let runs = t.expect(0, &["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    // Newest first; whether the first landing was late depends on today's date against its
    // deadline, and the second, a further version, is an amendment whenever it came.
    assert_eq!(statuses[0], "rejected");
    assert!(
        statuses[1] == "amended" && matches!(statuses[2], "landed" | "late"),
        "{statuses:?}"
    );
    assert_eq!(statuses[3], "failed");
    assert_eq!(runs[2]["rows_rejected"], 1);
    // The rejected run's report is kept for the provider to read.
    let rejected = runs[0]["id"].as_i64().unwrap().to_string();
    let report = t.expect(0, &["runs", "--report", &rejected]);
    assert!(
        report.contains("The extract was rejected: required columns are missing"),
        "{report}"
    );
    let landed = runs[2]["id"].as_i64().unwrap().to_string();
    let report = t.expect(0, &["runs", "--report", &landed, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report["checks"]["occupied_within_available"]["first"][0]["row"],
        3
    );
    let failed = runs[3]["id"].as_i64().unwrap().to_string();
    assert!(
        t.expect(1, &["runs", "--report", &failed])
            .contains("has no report")
    );
    assert_eq!(runs[2]["raw_sha256"].as_str().unwrap().len(), 64);

    // The trust signs off what was pulled: not a version it has not looked at; a standing
    // sign-off in its name, once, and revoked once.
    let signoffs = |code: i32, args: &[&str]| {
        let mut full = vec!["signoffs"];
        full.extend(args);
        t.expect(code, &full)
    };
    let by = ["--provider", "RXA", "--by", "Returns lead"];
    let stale = [
        &[
            "sign",
            "ward-bed-census",
            "--period",
            "2026-11-24",
            "--version",
            "1",
        ][..],
        &by,
    ]
    .concat();
    assert!(signoffs(1, &stale).contains("version 2 was pulled since"));
    let give = [&["give", "ward-bed-census"][..], &by].concat();
    let given = signoffs(0, &give);
    assert!(
        given.contains(
            "Returns lead signs off the periods of ward-bed-census for RXA that start on or after"
        ),
        "{given}"
    );
    assert!(signoffs(1, &give).contains("revoke it first to give another"));
    let list = signoffs(0, &["list", "--provider", "RXA"]);
    assert!(
        list.contains("Standing sign-off of ward-bed-census from"),
        "{list}"
    );
    let revoke = [&["revoke", "ward-bed-census"][..], &by].concat();
    assert!(signoffs(0, &revoke).contains("await a sign-off each"));
    assert!(signoffs(1, &revoke).contains("none is in force"));
}

#[test]
fn a_pull_of_an_unlisted_collection_is_refused_and_recorded() {
    let t = Tally::new();
    with_file_source(&t);
    let sources = t.data.path().join("sources.toml");
    let out = t
        .command(&[
            "pull",
            "kh03-manual",
            "--provider",
            "RXA",
            "--period",
            "2026-27-Q2",
        ])
        .env("TALLY_SOURCES", &sources)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("kh03-manual is not a licensed collection"),
        "{text}"
    );
    let runs = t.expect(0, &["runs", "--status", "refused"]);
    assert!(runs.contains("kh03-manual"), "{runs}");
    let out = t.expect(
        1,
        &[
            "pull",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-13",
        ],
    );
    assert!(out.contains("is not a period"), "{out}");
    let out = t.expect(
        1,
        &[
            "pull",
            "ward-bed-census",
            "--provider",
            "NOPE",
            "--period",
            "2026-11-24",
        ],
    );
    assert!(out.contains("no provider NOPE"), "{out}");
    let out = t.expect(
        1,
        &[
            "pull",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-11",
        ],
    );
    assert!(
        out.contains("ward-bed-census collects daily periods; 2026-11 is a month"),
        "{out}"
    );
    let out = t.expect(
        1,
        &[
            "pull",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2999-01-01",
        ],
    );
    assert!(out.contains("2999-01-01 has not ended yet"), "{out}");
    let home = write(
        t.data.path(),
        "home.csv",
        "code,name,kind,region\n1-100000001,Oak House,care_home,London\n",
    );
    t.expect(0, &["providers", "import", &home]);
    let out = t.expect(
        1,
        &[
            "pull",
            "ward-bed-census",
            "--provider",
            "1-100000001",
            "--period",
            "2026-11-24",
        ],
    );
    assert!(out.contains("1-100000001 is a care_home and ward-bed-census is asked only of: acute_trust, mental_health_trust"), "{out}");
}

#[test]
fn an_upload_lands_as_the_next_version_by_the_same_checks_as_a_pull() {
    let t = Tally::new();
    with_file_source(&t);
    let upload = |file: &str, code: i32| {
        t.expect(
            code,
            &[
                "upload",
                "ward-bed-census",
                "--provider",
                "RXA",
                "--period",
                "2026-11-24",
                file,
            ],
        )
    };
    // A spreadsheet as a ward manager fills it in: the first sheet, header in row 1.
    let book_path = t.data.path().join("census.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in CENSUS_HEADER.split(',').enumerate() {
        sheet.write_string(0, c as u16, h).unwrap();
    }
    let cells = "2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general";
    for (c, v) in cells.split(',').enumerate() {
        sheet.write_string(1, c as u16, v).unwrap();
    }
    sheet.write_number(1, 8, 20.0).unwrap();
    sheet.write_number(1, 9, 18.0).unwrap();
    book.save(&book_path).unwrap();
    let out = upload(book_path.to_str().unwrap(), 0);
    assert!(out.contains("as version 1"), "{out}");
    assert!(out.contains("1 rows in, 1 accepted, 0 rejected"), "{out}");
    // A corrected CSV the next day is version 2; the spreadsheet's version stays in the lake.
    let csv = write(
        t.data.path(),
        "census.csv",
        &format!(
            "{CENSUS_HEADER}\n2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general,20,17\n"
        ),
    );
    assert!(upload(&csv, 0).contains("as version 2"));
    let lake = t
        .data
        .path()
        .join("lake/ward-bed-census/period=2026-11-24/provider=RXA");
    assert!(lake.join("v1.parquet").is_file() && lake.join("v2.parquet").is_file());
    // Files an upload does not take, and a file that is not there, are refused in words
    // before anything is run.
    let text = write(t.data.path(), "census.txt", "hello");
    assert!(upload(&text, 1).contains("upload a .csv, .xlsx, .xls or .ods file"));
    let gone = t.data.path().join("gone.csv");
    assert!(upload(gone.to_str().unwrap(), 1).contains("there is no file at"));
    let runs = t.expect(0, &["runs", "--json"]);
    assert_eq!(runs.matches("\"failed\"").count(), 0, "{runs}");
    assert_eq!(runs.matches("\"amended\"").count(), 1, "{runs}");
}

#[test]
fn a_collection_listed_with_notice_is_coming_and_only_dry_runs_are_taken_before_it_is_owed() {
    let t = Tally::new();
    let csv = write(
        t.data.path(),
        "providers.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &csv]);
    t.expect(
        0,
        &[
            "collections",
            "propose",
            "collections/ward-bed-census.toml",
            "--by",
            "NHS England",
        ],
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    // Sooner than the notice its definition promises: blocked without an override.
    let soon = (today + chrono::Duration::days(14)).to_string();
    let approve = |extra: &[&str], code: i32| {
        let mut args = vec![
            "collections",
            "approve",
            "ward-bed-census",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "Automated census",
        ];
        args.extend_from_slice(extra);
        t.expect(code, &args)
    };
    let out = approve(&["--effective-from", &soon], 3);
    assert!(out.contains("notice:"), "{out}");
    assert!(out.contains("--override"), "{out}");
    // By default: owed from today plus the 56 days' notice.
    let owed = today + chrono::Duration::days(56);
    let out = approve(&[], 0);
    assert!(
        out.contains(&format!("owed from {}", owed.format("%-d %B %Y"))),
        "{out}"
    );
    let out = t.expect(0, &["register"]);
    assert!(out.contains(&format!("owed from {owed} (coming")), "{out}");

    // A file tried before it is owed: checked, reported, nothing kept, no run recorded.
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let file = write(
        t.data.path(),
        "census.csv",
        &format!(
            "{CENSUS_HEADER}\n{yesterday},RXA01,W1,general_acute,overnight,adult,core,general,20,18\n"
        ),
    );
    let tried = |file: &str, code: i32| {
        t.expect(
            code,
            &[
                "upload",
                "ward-bed-census",
                "--provider",
                "RXA",
                "--period",
                &yesterday,
                file,
                "--dry-run",
            ],
        )
    };
    let out = tried(&file, 0);
    assert!(out.contains("The file passes"), "{out}");
    assert!(out.contains("Nothing was kept"), "{out}");
    let bad = write(t.data.path(), "bad.csv", "census_date\n2026-01-01\n");
    let out = tried(&bad, 4);
    assert!(out.contains("would not be taken"), "{out}");
    assert!(out.contains("required columns are missing"), "{out}");
    let out = t.expect(0, &["runs"]);
    assert!(out.contains("No runs match"), "{out}");
    assert!(!t.data.path().join("lake/ward-bed-census").exists());

    // The same file sent for real is refused: the period is before the effective date.
    let out = t.expect(
        1,
        &[
            "upload",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            &yesterday,
            &file,
        ],
    );
    assert!(
        out.contains(&format!("owed from {}", owed.format("%-d %B %Y"))),
        "{out}"
    );
    // Nor may a trust declare the day a nil return: the census takes none.
    let nil = [
        "upload",
        "ward-bed-census",
        "--provider",
        "RXA",
        "--period",
        &yesterday,
    ];
    let out = t.expect(1, &[&nil[..], &["--nil"]].concat());
    assert!(out.contains("does not take nil returns"), "{out}");
    // A nil return is instead of a file, never with one.
    let out = t.expect(2, &[&nil[..], &[file.as_str(), "--nil"]].concat());
    assert!(out.contains("cannot be used with"), "{out}");

    // The trust's source tried the same way: a file source with the extract in its folder.
    let drop = t.data.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(&file, drop.join(format!("RXA_{yesterday}.csv"))).unwrap();
    write(
        t.data.path(),
        "sources.toml",
        "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n",
    );
    let out = t
        .command(&[
            "pull",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            &yesterday,
            "--dry-run",
        ])
        .env("TALLY_SOURCES", t.data.path().join("sources.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("Your source system passes"), "{out}");
    assert!(drop.join(format!("RXA_{yesterday}.csv")).exists());
    let out = t.expect(0, &["runs"]);
    assert!(out.contains("No runs match"), "{out}");
}
