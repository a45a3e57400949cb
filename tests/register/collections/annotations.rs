//! The duplicate and derivable checks compare what items measure, so a definition cannot
//! dodge them by leaving that out or by declaring its figures new.

use crate::common::{load, load_text};
use chrono::NaiveDate;
use tally::domain::finding::{Rule, Severity};
use tally::registry::checks::{self, Context, Listed};
use tally::registry::load;

fn proposal_text() -> String {
    std::fs::read_to_string(
        crate::common::repo().join("collections/proposals/care-home-beds-return.toml"),
    )
    .unwrap()
}

/// The proposal's text with every `concept` and `measure` line taken out.
fn without_annotations() -> String {
    proposal_text()
        .lines()
        .filter(|l| !l.starts_with("concept =") && !l.starts_with("measure ="))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_copy_of_a_listed_collection_without_its_annotations_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("care-home-beds-return.toml");
    std::fs::write(&path, without_annotations()).unwrap();
    let e = load::load_file(&path, chrono_tz::Europe::London)
        .unwrap_err()
        .to_string();
    for item in [
        "max_capacity",
        "occupied_beds",
        "vacant_reserved",
        "vacant_accepting",
    ] {
        assert!(
            e.contains(&format!("\"{item}\" is a figure")),
            "{item} is named: {e}"
        );
    }
    assert!(e.contains("concept = \"new:…\""), "{e}");
    // Each is named by its place in the file, as every loading problem is.
    assert!(
        e.contains("items[1].concept: \"max_capacity\" is a figure"),
        "{e}"
    );
    // Keys and dimensions need no concept: the bundled definitions all load.
    for name in [
        "ward-bed-census",
        "care-home-capacity",
        "kh03-manual",
        "uec-sitrep-manual",
    ] {
        load(name);
    }
}

#[test]
fn a_new_concept_needs_a_justification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("care-home-beds-return.toml");
    let text = proposal_text().replacen(
        "concept = \"care_home.beds.capacity\"",
        "concept = \"new:care_home.beds.capacity\"",
        1,
    );
    std::fs::write(&path, &text).unwrap();
    let e = load::load_file(&path, chrono_tz::Europe::London)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a new concept needs a justification"), "{e}");
    let plain = proposal_text().replacen(
        "concept = \"care_home.beds.capacity\"",
        "concept = \"care_home.beds.capacity\"\njustification = \"because\"",
        1,
    );
    std::fs::write(&path, &plain).unwrap();
    let e = load::load_file(&path, chrono_tz::Europe::London)
        .unwrap_err()
        .to_string();
    assert!(e.contains("only an item whose concept is new"), "{e}");
}

#[test]
fn figures_declared_new_are_still_duplicates_of_listed_ones_and_dap_reads_why() {
    let dir = tempfile::tempdir().unwrap();
    let listed = load("care-home-capacity").def;
    let mut text = proposal_text();
    for c in [
        "capacity",
        "occupied",
        "vacant_reserved",
        "vacant_accepting",
    ] {
        text = text.replacen(
            &format!("concept = \"care_home.beds.{c}\""),
            &format!(
                "concept = \"new:care_home.beds.{c}\"\njustification = \"our own count of {c}\""
            ),
            1,
        );
    }
    let renamed = load_text(dir.path(), "care-home-beds-return.toml", &text).def;
    let on = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let duplicate = checks::run(
        &renamed,
        &Context {
            listed: vec![Listed {
                licence_number: Some("DAP0002"),
                def: &listed,
            }],
            providers: &[],
            estimates: &[],
            budget: None,
            on,
        },
    )
    .into_iter()
    .find(|f| f.rule == Rule::Duplicate)
    .unwrap();
    assert_eq!(
        duplicate.severity,
        Severity::Blocking,
        "{}",
        duplicate.message
    );
    assert!(
        duplicate.message.contains("max_capacity"),
        "{}",
        duplicate.message
    );

    // Against a register without it, the new concepts are shown to DAP with their reasons.
    let alone = checks::run(
        &renamed,
        &Context {
            listed: Vec::new(),
            providers: &[],
            estimates: &[],
            budget: None,
            on,
        },
    )
    .into_iter()
    .find(|f| f.rule == Rule::Duplicate)
    .unwrap();
    assert_eq!(alone.severity, Severity::Warning, "{}", alone.message);
    assert!(
        alone
            .message
            .contains("max_capacity (care_home.beds.capacity): \"our own count of capacity\""),
        "{}",
        alone.message
    );
}

#[test]
fn renamed_items_of_the_same_type_are_shown_to_dap_as_near_matches() {
    let dir = tempfile::tempdir().unwrap();
    let listed = load("care-home-capacity").def;
    let mut text = proposal_text();
    // Every figure declared new and renamed a little: nothing is the same item any more.
    for (c, from, to) in [
        ("capacity", "max_capacity", "maximum_capacity"),
        ("occupied", "occupied_beds", "beds_occupied"),
        ("vacant_reserved", "vacant_reserved", "reserved_vacant_beds"),
        ("vacant_accepting", "vacant_accepting", "vacant_acepting"),
    ] {
        text = text
            .replacen(
                &format!("concept = \"care_home.beds.{c}\""),
                &format!("concept = \"new:{c}\"\njustification = \"ours\""),
                1,
            )
            .replace(from, to);
    }
    let renamed = load_text(dir.path(), "care-home-beds-return.toml", &text).def;
    let on = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let findings = checks::run(
        &renamed,
        &Context {
            listed: vec![Listed {
                licence_number: Some("DAP0002"),
                def: &listed,
            }],
            providers: &[],
            estimates: &[],
            budget: None,
            on,
        },
    );
    let near: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == Rule::Duplicate && f.message.contains("similar name"))
        .collect();
    assert_eq!(near.len(), 1, "{findings:#?}");
    assert_eq!(near[0].severity, Severity::Warning);
    for pair in [
        "maximum_capacity (like max_capacity)",
        "beds_occupied (like occupied_beds)",
        "reserved_vacant_beds (like vacant_reserved)",
        "vacant_acepting (like vacant_accepting)",
    ] {
        assert!(
            near[0].message.contains(pair),
            "{pair}: {}",
            near[0].message
        );
    }
    assert_eq!(near[0].related, vec!["care-home-capacity".to_string()]);

    // The unchanged proposal's items are the same items: duplicates, not near-matches.
    let unchanged = load_text(dir.path(), "care-home-beds-return.toml", &proposal_text()).def;
    let same = checks::run(
        &unchanged,
        &Context {
            listed: vec![Listed {
                licence_number: Some("DAP0002"),
                def: &listed,
            }],
            providers: &[],
            estimates: &[],
            budget: None,
            on,
        },
    );
    assert!(
        same.iter()
            .all(|f| !f.message.contains("max_capacity (like")),
        "{same:#?}"
    );
}

#[test]
fn items_without_a_concept_are_compared_by_name_type_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let with_code = |codes: &str| {
        format!(
            r#"slug = "{{slug}}"
title = "Staffing"
sponsor = "DHSC"
legal_basis = "Health and Social Care Act 2012 s.254"
purpose = "Whether wards are safely staffed."
licence_term_months = 12
capture = "manual"
grain = "provider"
dimensions = []
key = ["snapshot_date"]
deadline = "5d"
amendment_window = "30d"

[respondents]
kinds = ["acute_trust"]
estimated = 100

[frequency]
cron = "0 6 1 * *"
timezone = "Europe/London"
period = "month"

[burden]
manual_minutes = 20
automated_minutes = 5

[[items]]
name = "snapshot_date"
type = "date"

[[items]]
name = "staffing_level"
type = "code"
codes = [{codes}]
"#
        )
    };
    let listed = load_text(
        dir.path(),
        "staffing-a.toml",
        &with_code(r#""safe", "unsafe""#).replace("{slug}", "staffing-a"),
    )
    .def;
    let copy = load_text(
        dir.path(),
        "staffing-b.toml",
        &with_code(r#""unsafe", "safe""#).replace("{slug}", "staffing-b"),
    )
    .def;
    let other_codes = load_text(
        dir.path(),
        "staffing-c.toml",
        &with_code(r#""safe", "unsafe", "unknown""#).replace("{slug}", "staffing-c"),
    )
    .def;
    let on = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let against = |def| {
        checks::run(
            def,
            &Context {
                listed: vec![Listed {
                    licence_number: Some("DAP0009"),
                    def: &listed,
                }],
                providers: &[],
                estimates: &[],
                budget: None,
                on,
            },
        )
    };
    let same = against(&copy);
    let dup = same
        .iter()
        .find(|f| f.rule == Rule::Duplicate && f.severity == Severity::Blocking)
        .unwrap_or_else(|| panic!("{same:#?}"));
    assert!(
        dup.message
            .contains("staffing-a (DAP0009) already collects staffing_level"),
        "{}",
        dup.message
    );
    // Other codes make another item, and not a near one either.
    let other = against(&other_codes);
    assert!(
        other
            .iter()
            .all(|f| f.rule != Rule::Duplicate || f.severity == Severity::Pass),
        "{other:#?}"
    );
}
