//! `tally collections` as DAP runs it: a derivable or duplicate proposal blocked, a budget
//! breaker blocked unless it retires enough, decisions logged and shown, an override that
//! needs a reason, and bad definitions refused with file, field and reason, changing nothing.

use crate::common::{self, repo};
use crate::{Tally, write};

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
fn the_template_is_written_with_the_items_as_columns() {
    let t = Tally::new();
    t.list("care-home-capacity");
    let csv = t.data.path().join("homes.csv");
    let out = t.expect(
        0,
        &[
            "collections",
            "template",
            "care-home-capacity",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.contains("5 columns"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap().trim_end(),
        "snapshot_date,max_capacity,occupied_beds,vacant_reserved,vacant_accepting"
    );
    let err = t.expect(
        1,
        &[
            "collections",
            "template",
            "care-home-capacity",
            "--format",
            "pdf",
            "--out",
            "x",
        ],
    );
    assert!(err.contains("--format must be csv or xlsx"), "{err}");
}
