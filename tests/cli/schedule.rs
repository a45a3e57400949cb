//! `tally schedule preview` and the clock-change policy, and `tally runs` listing the ledger.

use crate::{Tally, write};

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
