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
