//! The `tally` command as a DAP member or provider runs it: verdicts, exit codes, and the
//! errors bad input gets, each of which must change nothing in the register.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::repo;

/// A fresh data folder and a way to run `tally` against it from the repository root, so
/// that paths read as they do in the README.
struct Tally {
    data: tempfile::TempDir,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
        c.args(args)
            .current_dir(repo())
            .env("TALLY_DATA_DIR", self.data.path())
            // Named outright, so that a tally.toml in the checkout can never point the tests
            // at a real register.
            .env(
                "TALLY_DATABASE_URL",
                format!("sqlite://{}", self.data.path().join("tally.db").display()),
            )
            .env_remove("TALLY_ACTOR");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and requires the given exit code; returns stdout and stderr together.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "tally {args:?}:\n{text}");
        text
    }

    fn list(&self, name: &str) {
        let file = format!("collections/{name}.toml");
        self.expect(0, &["collections", "propose", &file, "--by", "NHS England"]);
        self.expect(
            0,
            &[
                "collections",
                "approve",
                name,
                "--by",
                "Asha Patel (DAP)",
                "--reason",
                "licensed",
            ],
        );
    }

    /// The register as JSON, to show that a failed command changed nothing.
    fn snapshot(&self) -> String {
        let register = self.expect(0, &["register", "--json"]);
        let providers = self.expect(0, &["providers", "list", "--json"]);
        format!("{register}{providers}")
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn census_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(common::collection_path("ward-bed-census")).unwrap();
    assert!(text.contains(from));
    text.replacen(from, to, 1)
}

#[test]
fn the_manual_sitrep_is_derivable_from_the_census_and_blocked() {
    let t = Tally::new();
    t.list("ward-bed-census");
    let out = t.expect(
        3,
        &["collections", "check", "collections/uec-sitrep-manual.toml"],
    );
    assert!(
        out.contains("uec-sitrep-manual: BLOCKED by 1 finding"),
        "{out}"
    );
    assert!(out.contains("✗ blocking derivable Every one of its 10 measures can be computed from ward-bed-census (DAP0001)"), "{out}");
    assert!(out.contains("license a query instead"), "{out}");
    // Checking proposes nothing.
    assert!(
        !t.expect(0, &["collections", "list"])
            .contains("uec-sitrep-manual")
    );
    let json = t.expect(
        3,
        &[
            "collections",
            "check",
            "collections/kh03-manual.toml",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json[..json.rfind(']').unwrap() + 1]).unwrap();
    assert_eq!(v[0]["findings"][0]["rule"], "derivable");
    assert_eq!(v[0]["findings"][0]["severity"], "blocking");
}

#[test]
fn a_copy_of_care_home_capacity_is_blocked_as_a_duplicate() {
    let t = Tally::new();
    t.list("care-home-capacity");
    let out = t.expect(
        3,
        &[
            "collections",
            "propose",
            "collections/proposals/care-home-beds-return.toml",
            "--by",
            "A network",
        ],
    );
    assert!(out.contains("✗ blocking duplicate It asks again for 4 items that listed collections already collect: care-home-capacity (DAP0001) already collects max_capacity"), "{out}");
    // Blocked, as a proposal is: exit 3, not an error.
    let out = t.expect(
        3,
        &[
            "collections",
            "approve",
            "care-home-beds-return",
            "--by",
            "DAP",
            "--reason",
            "why not",
        ],
    );
    assert!(
        out.contains("is blocked and cannot be listed without an override"),
        "{out}"
    );
}

#[test]
fn a_budget_breaker_is_blocked_unless_it_retires_enough() {
    let t = Tally::new();
    t.list("uec-sitrep-manual");
    t.list("kh03-manual");
    t.expect(
        0,
        &[
            "burden", "set", "--cap", "35000", "--by", "DAP", "--reason", "cap",
        ],
    );
    let survey = "collections/proposals/discharge-readiness-survey.toml";
    let out = t.expect(3, &["collections", "check", survey]);
    assert!(out.contains("✗ blocking budget    It costs an estimated 34,067 staff hours a year, taking the register to 62,657 h, over DAP's cap of 35,000 h by 27,657 h."), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join(survey))
        .unwrap()
        .replacen(
            "licence_term_months = 24",
            "licence_term_months = 24\nretires = [\"uec-sitrep-manual\", \"kh03-manual\"]",
            1,
        );
    let file = write(dir.path(), "survey.toml", &text);
    let out = t.expect(0, &["collections", "propose", &file, "--by", "DHSC"]);
    assert!(out.contains("within DAP's cap of 35,000 h"), "{out}");
    let out = t.expect(
        0,
        &[
            "collections",
            "approve",
            "discharge-readiness-survey",
            "--by",
            "DAP",
            "--reason",
            "replaces two forms",
        ],
    );
    assert!(
        out.contains("Retired uec-sitrep-manual, which discharge-readiness-survey replaces"),
        "{out}"
    );
    let burden = t.expect(0, &["burden"]);
    assert!(
        burden.contains("total 34,067 h a year: manual 34,067 h, automated 0 h"),
        "{burden}"
    );
}

#[test]
fn decisions_are_logged_and_shown() {
    let t = Tally::new();
    t.list("ward-bed-census");
    t.expect(
        3,
        &[
            "collections",
            "propose",
            "collections/uec-sitrep-manual.toml",
            "--by",
            "NHS England",
        ],
    );
    t.expect(
        0,
        &[
            "collections",
            "reject",
            "uec-sitrep-manual",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "Derivable from the census: license a query.",
        ],
    );
    t.expect(
        0,
        &[
            "collections",
            "retire",
            "ward-bed-census",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "Superseded by a national feed.",
        ],
    );
    let out = t.expect(0, &["collections", "show", "ward-bed-census"]);
    assert!(
        out.starts_with("DAP0001 ward-bed-census (retired)"),
        "{out}"
    );
    assert!(
        out.contains("list v1 by Asha Patel (DAP): licensed"),
        "{out}"
    );
    assert!(
        out.contains("retire by Asha Patel (DAP): Superseded by a national feed."),
        "{out}"
    );
    let out = t.expect(0, &["collections", "show", "uec-sitrep-manual"]);
    assert!(
        out.contains("reject v1 by Asha Patel (DAP): Derivable from the census: license a query."),
        "{out}"
    );
    assert!(
        out.contains("blocking derivable: Every one of its 10 measures"),
        "{out}"
    );
    let register = t.expect(0, &["register"]);
    assert!(
        register.contains("rejected: Derivable from the census: license a query."),
        "{register}"
    );
    assert!(
        register.contains("retired: Superseded by a national feed."),
        "{register}"
    );
}

#[test]
fn an_override_needs_a_reason() {
    let t = Tally::new();
    t.list("ward-bed-census");
    t.expect(
        3,
        &[
            "collections",
            "propose",
            "collections/uec-sitrep-manual.toml",
            "--by",
            "NHS England",
        ],
    );
    let before = t.snapshot();
    let out = t.expect(
        1,
        &[
            "collections",
            "approve",
            "uec-sitrep-manual",
            "--by",
            "DAP",
            "--reason",
            "winter",
            "--override",
            "derivable=",
        ],
    );
    assert!(
        out.contains("the override of the derivable rule has no reason"),
        "{out}"
    );
    let out = t.expect(
        1,
        &[
            "collections",
            "approve",
            "uec-sitrep-manual",
            "--by",
            "DAP",
            "--reason",
            "winter",
            "--override",
            "derivabel=typo",
        ],
    );
    assert!(out.contains("\"derivabel\" is not a rule"), "{out}");
    assert_eq!(t.snapshot(), before);
    t.expect(
        0,
        &[
            "collections",
            "approve",
            "uec-sitrep-manual",
            "--by",
            "DAP",
            "--reason",
            "winter",
            "--override",
            "derivable=Census coverage is incomplete this winter.",
        ],
    );
    let register = t.expect(0, &["register"]);
    assert!(
        register.contains(
            "DAP overrode the derivable rule: Census coverage is incomplete this winter."
        ),
        "{register}"
    );
}

#[test]
fn bad_definitions_are_refused_with_file_field_and_reason_and_change_nothing() {
    let t = Tally::new();
    t.list("care-home-capacity");
    let before = t.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "malformed.toml",
            "slug = \"x\"\ntitle = = 2\n".to_string(),
            "malformed.toml: line 2, column 9: not valid TOML".to_string(),
        ),
        (
            "unknown-type.toml",
            census_with("type = \"code\"", "type = \"integr\""),
            "unknown-type.toml: items[3].type: unknown type \"integr\"".to_string(),
        ),
        (
            "long-licence.toml",
            census_with("licence_term_months = 36", "licence_term_months = 48"),
            "long-licence.toml: licence_term_months: 48 months is outside the licence limit"
                .to_string(),
        ),
        (
            "no-sponsor.toml",
            census_with("sponsor = \"NHS England\"\n", ""),
            "no-sponsor.toml: sponsor: is required".to_string(),
        ),
    ];
    for (name, text, expected) in cases {
        let file = write(dir.path(), name, &text);
        for args in [
            vec!["collections", "check", &file],
            vec!["collections", "propose", &file, "--by", "someone"],
        ] {
            let out = t.expect(1, &args);
            assert!(out.contains(&expected), "{args:?}:\n{out}");
        }
    }
    let twice = tempfile::tempdir().unwrap();
    write(twice.path(), "one.toml", &census_with("title", "title"));
    write(twice.path(), "two.toml", &census_with("title", "title"));
    let out = t.expect(1, &["collections", "check", twice.path().to_str().unwrap()]);
    assert!(
        out.contains("two.toml: slug: \"ward-bed-census\" is already defined by"),
        "{out}"
    );
    let out = t.expect(
        1,
        &[
            "collections",
            "propose",
            twice.path().to_str().unwrap(),
            "--by",
            "someone",
        ],
    );
    assert!(
        out.contains("is a folder: propose one definition file at a time"),
        "{out}"
    );
    assert_eq!(t.snapshot(), before);
}

#[test]
fn a_provider_csv_with_an_unknown_kind_imports_nothing() {
    let t = Tally::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "providers.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\nRXB,Bramley NHS Trust,acute,London\nrx c,Lower,acute_trust,\n",
    );
    let out = t.expect(1, &["providers", "import", &file]);
    assert!(out.contains("providers.csv: line 3: kind: unknown provider kind \"acute\" (expected one of: acute_trust,"), "{out}");
    assert!(
        out.contains("line 4: code: \"rx c\" is not an ODS code"),
        "{out}"
    );
    assert!(out.contains("line 4: region: is empty"), "{out}");
    // Nothing was recorded, so there is no register yet, and reading one does not make it.
    assert!(
        t.expect(1, &["providers", "list"])
            .contains("there is no register at")
    );
    assert!(!t.data.path().join("tally.db").exists());
    let good = write(
        dir.path(),
        "good.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &good]);
    assert!(t.expect(0, &["providers", "list"]).contains("1 provider"));
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let t = Tally::new();
    let out = t
        .command(&["register"])
        .env(
            "TALLY_DATABASE_URL",
            "postgres://tally:s3cret@127.0.0.1:9/tally",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot reach the database at postgres://tally:***@127.0.0.1:9/tally"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let out = t
        .command(&["register"])
        .env("TALLY_DATABASE_URL", "mysql://root:pw@localhost/x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("unsupported database URL mysql://root:***@localhost/x"),
        "{err}"
    );
    // Nothing was created in the data folder either.
    assert_eq!(std::fs::read_dir(t.data.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_settings_file_is_named() {
    let t = Tally::new();
    let file = write(t.data.path(), "tally.toml", "timezone = \"Europe/Londn\"\n");
    let out = t.expect(1, &["--config", &file, "register"]);
    assert!(out.contains("unknown timezone \"Europe/Londn\""), "{out}");
}

#[test]
fn every_command_has_help() {
    let t = Tally::new();
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["collections", "--help"],
        vec!["collections", "check", "--help"],
        vec!["collections", "propose", "--help"],
        vec!["collections", "list", "--help"],
        vec!["collections", "show", "--help"],
        vec!["collections", "approve", "--help"],
        vec!["collections", "reject", "--help"],
        vec!["collections", "suspend", "--help"],
        vec!["collections", "reinstate", "--help"],
        vec!["collections", "retire", "--help"],
        vec!["register", "--help"],
        vec!["burden", "--help"],
        vec!["burden", "set", "--help"],
        vec!["providers", "import", "--help"],
        vec!["providers", "list", "--help"],
        vec!["obligations", "--help"],
        vec!["schedule", "preview", "--help"],
        vec!["runs", "--help"],
        vec!["pull", "--help"],
        vec!["serve", "--help"],
        vec!["upload", "--help"],
        vec!["returns", "build", "--help"],
        vec!["returns", "export", "--help"],
        vec!["lake", "pack", "--help"],
    ] {
        let out = t.expect(0, &args);
        assert!(out.contains("Usage: tally"), "{args:?}: {out}");
    }
    let out = t.expect(
        2,
        &["collections", "approve", "ward-bed-census", "--reason", "x"],
    );
    assert!(out.contains("--by <BY>"), "{out}");
}

#[test]
fn output_closed_early_ends_quietly() {
    let t = Tally::new();
    t.list("ward-bed-census");
    let mut child = t
        .command(&["collections", "show", "ward-bed-census"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -0`: the reader goes away before tally has written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn successors_must_be_providers_that_follow_a_closure() {
    let t = Tally::new();
    let dir = tempfile::tempdir().unwrap();
    let header = "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n";
    let own = write(
        dir.path(),
        "own.csv",
        &format!(
            "{header}RA6,Six,acute_trust,London,,,,2026-01-01,RA6\nRA7,Seven,acute_trust,London,,,,,RA8\n"
        ),
    );
    let out = t.expect(1, &["providers", "import", &own]);
    assert!(
        out.contains("line 2: successor: RA6 cannot succeed itself"),
        "{out}"
    );
    assert!(
        out.contains("line 3: successor: RA8 is given, but RA7 has no closed_on date"),
        "{out}"
    );
    let unknown = write(
        dir.path(),
        "unknown.csv",
        &format!("{header}RA6,Six,acute_trust,London,,,,2026-01-01,NOPE\n"),
    );
    let out = t.expect(1, &["providers", "import", &unknown]);
    assert!(
        out.contains("nothing imported: RA6: successor NOPE is not a provider"),
        "{out}"
    );
    assert!(t.expect(0, &["providers", "list"]).contains("0 providers"));
    let good = write(
        dir.path(),
        "good.csv",
        &format!(
            "{header}RA6,Six,acute_trust,London,,,,2026-01-01,RA9\nRA9,Nine,acute_trust,London,,,2026-01-01,,\n"
        ),
    );
    assert!(
        t.expect(0, &["providers", "import", &good])
            .contains("Imported 2 providers")
    );
}

#[test]
fn odd_requests_get_plain_answers() {
    let t = Tally::new();
    let empty = tempfile::tempdir().unwrap();
    let out = t.expect(1, &["collections", "check", empty.path().to_str().unwrap()]);
    assert!(
        out.contains("folder: holds no .toml definition files"),
        "{out}"
    );
    let out = t.expect(1, &["obligations", "--provider", "NOPE"]);
    assert!(out.contains("there is no provider NOPE"), "{out}");
    let out = t.expect(
        1,
        &[
            "burden", "set", "--cap", "-5", "--by", "DAP", "--reason", "x",
        ],
    );
    assert!(
        out.contains("the cap must be a finite number of hours, 0 or more"),
        "{out}"
    );
    for (flag, value, says) in [
        ("--cap", "1e308", "at most 100,000,000"),
        ("--goal", "1e308", "at most 100,000,000"),
    ] {
        let out = t.expect(
            1,
            &[
                "burden",
                "set",
                flag,
                value,
                "--by-date",
                "2030-01-01",
                "--by",
                "DAP",
                "--reason",
                "x",
            ],
        );
        assert!(out.contains(says), "{flag} {value}: {out}");
    }
    let out = t.expect(
        1,
        &[
            "burden",
            "set",
            "--goal",
            "10",
            "--by-date",
            "+262142-01-01",
            "--by",
            "DAP",
            "--reason",
            "x",
        ],
    );
    assert!(
        out.contains("invalid value") || out.contains("not a day from 2000 to 2100"),
        "{out}"
    );
    let out = t.expect(
        2,
        &[
            "token",
            "create",
            "--role",
            "dhsc",
            "--name",
            "A",
            "--expires-in-days",
            "0",
        ],
    );
    assert!(out.contains("0 is not in 1..=3650"), "{out}");
    let out = t.expect(1, &["burden", "set", "--by", "DAP", "--reason", "x"]);
    assert!(out.contains("nothing to change"), "{out}");
    t.list("kh03-manual");
    let out = t.expect(
        1,
        &[
            "burden",
            "set",
            "--goal",
            "5000",
            "--by-date",
            "2030-03-31",
            "--by",
            "DAP",
            "--reason",
            "x",
        ],
    );
    assert!(
        out.contains("the goal of 5,000 h is not below the baseline of 3,040 h"),
        "{out}"
    );
    let out = t.expect(
        1,
        &[
            "collections",
            "approve",
            "kh03-manual",
            "--by",
            "DAP",
            "--reason",
            "again",
        ],
    );
    assert!(
        out.contains("kh03-manual has no proposal awaiting a decision (it is listed as DAP0001)"),
        "{out}"
    );
    let out = t.expect(
        1,
        &[
            "collections",
            "retire",
            "kh03-manual",
            "--by",
            "DAP",
            "--reason",
            "line one\nDAP0099 forged [listed]",
        ],
    );
    assert!(out.contains("must be plain text on one line"), "{out}");
    let register = t.expect(0, &["register"]);
    assert!(register.contains("listed: licensed"), "{register}");
}

#[test]
fn schedule_preview_shows_the_clock_change_policy() {
    let t = Tally::new();
    let out = t.expect(
        0,
        &[
            "schedule",
            "preview",
            "--cron",
            "30 1 * * *",
            "--from",
            "2026-03-28",
            "--to",
            "2026-03-30",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "2026-03-28 01:30 GMT  2026-03-28T01:30:00Z  Sat",
            "2026-03-29 02:00 BST  2026-03-29T01:00:00Z  Sun",
        ]
    );
    let out = t.expect(
        0,
        &[
            "schedule",
            "preview",
            "collections/ward-bed-census.toml",
            "--from",
            "2026-10-24T12:00",
            "--to",
            "2026-10-26T12:00",
            "--json",
        ],
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["fire_local"], "2026-10-25T09:00:00+00:00");
    assert_eq!(lines[0]["fire_utc"], "2026-10-25T09:00:00Z");
    assert_eq!(lines[0]["period"], "2026-10-24");
    assert_eq!(lines[0]["period_start"], "2026-10-24");
    assert_eq!(lines[0]["period_end"], "2026-10-24");
    // A listed collection is previewed by its slug.
    t.list("kh03-manual");
    let out = t.expect(
        0,
        &[
            "schedule",
            "preview",
            "kh03-manual",
            "--from",
            "2026-01-01",
            "--to",
            "2027-01-01",
        ],
    );
    assert!(
        out.contains("2026-04-01 09:00 BST  2026-04-01T08:00:00Z  Wed  collects 2025-26-Q4"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
    for (args, expected) in [
        (vec!["--cron", "61 * * * *"], "is not a cron expression"),
        (
            vec!["--cron", "0 9 * * *", "--timezone", "Mars/Base"],
            "unknown timezone",
        ),
        (
            vec!["--cron", "0 9 * * *", "--from", "2026-03-29T01:30"],
            "does not exist in Europe/London",
        ),
        (
            vec!["--cron", "0 9 * * *", "--from", "yesterday"],
            "is not a time like",
        ),
        (
            vec!["no-such-collection"],
            "no collection \"no-such-collection\"",
        ),
    ] {
        let mut full = vec!["schedule", "preview"];
        full.extend(args.iter().copied());
        if !args.contains(&"--from") {
            full.extend(["--from", "2026-01-01"]);
        }
        full.extend(["--to", "2026-12-31"]);
        let out = t.expect(1, &full);
        assert!(out.contains(expected), "{full:?}: {out}");
    }
    let out = t.expect(
        1,
        &[
            "schedule",
            "preview",
            "--cron",
            "0 9 * * *",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
    );
    assert!(out.contains("--to must be after --from"), "{out}");
}

#[test]
fn runs_lists_the_ledger() {
    let t = Tally::new();
    // Reading a register that is not there says so, and makes none.
    for read in [
        vec!["runs"],
        vec!["burden"],
        vec!["register"],
        vec!["collections", "list"],
    ] {
        let out = t.expect(1, &read);
        assert!(out.contains("there is no register at"), "{read:?}: {out}");
    }
    assert!(!t.data.path().join("tally.db").exists());
    let csv = write(
        t.data.path(),
        "providers.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &csv]);
    let out = t.expect(0, &["runs"]);
    assert!(out.contains("No runs match."), "{out}");
    assert_eq!(t.expect(0, &["runs", "--json"]).trim(), "[]");
    // A status the ledger never writes is a bad argument, not an empty list.
    let out = t.expect(2, &["runs", "--status", "bogus"]);
    assert!(
        out.contains("possible values: running, landed, late, amended"),
        "{out}"
    );
}

/// A register with the census listed, one trust, and a file source for it.
fn with_file_source(t: &Tally) -> std::path::PathBuf {
    t.list("ward-bed-census");
    let csv = write(
        t.data.path(),
        "providers.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &csv]);
    // Listed today, so November is before the licence: DAP lets RXA send it all the same.
    let out = t.expect(
        0,
        &[
            "exceptions",
            "grant",
            "ward-bed-census",
            "--provider",
            "RXA",
            "--period",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--by",
            "Asha Patel (DAP)",
            "--reason",
            "November's census, kept by the trust before its source was connected",
        ],
    );
    assert!(
        out.contains("RXA may send 2026-11-01 to 2026-11-30 of ward-bed-census by hand until"),
        "{out}"
    );
    let drop = t.data.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    write(
        t.data.path(),
        "sources.toml",
        "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"file\"\nfolder = \"drop\"\nname = \"{provider}_{period}.csv\"\n",
    );
    drop
}

const CENSUS_HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

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
            .starts_with("level,region,code,name,")
    );
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
