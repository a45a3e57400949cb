//! The `tally` command as a DAP member or provider runs it: verdicts, exit codes, and the
//! errors bad input gets, each of which must change nothing in the register.

#[path = "../common/mod.rs"]
mod common;

mod collections;
mod command;
mod providers;
mod pulls;
mod returns;
mod schedule;

use common::repo;
use std::path::Path;
use std::process::{Command, Output};

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

    /// Lists a bundled collection today, owed from today: DAP overrides the notice, so that
    /// the tests can pull and upload at once.
    fn list(&self, name: &str) {
        let file = format!("collections/{name}.toml");
        self.expect(0, &["collections", "propose", &file, "--by", "NHS England"]);
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive()
            .to_string();
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
                "--effective-from",
                &today,
                "--override",
                "notice=Owed at once, for the test",
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
