//! The command itself: help for every command, plain answers to odd requests, an unreachable
//! database named without its password, a bad settings file named, and output closed early.

use crate::{Tally, write};

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
