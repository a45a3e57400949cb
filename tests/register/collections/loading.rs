//! Loading collection definitions: every problem in a file reported at once, named by file,
//! field and reason; the schedule, the burden inputs and the text a definition may hold.

use crate::common::{self, load, variant};

use tally::domain::Problems;
use tally::registry::load::{load_dir, parse};

const BUNDLED: [&str; 4] = [
    "ward-bed-census",
    "care-home-capacity",
    "uec-sitrep-manual",
    "kh03-manual",
];

fn problems(text: &str) -> Vec<String> {
    match parse("collections/x.toml", text, chrono_tz::Europe::London) {
        Ok(_) => panic!("should not load"),
        Err(Problems(p)) => p.iter().map(|p| p.to_string()).collect(),
    }
}

fn census_text() -> String {
    std::fs::read_to_string(common::collection_path("ward-bed-census")).unwrap()
}

#[test]
fn bundled_collections_load() {
    for name in BUNDLED {
        let l = load(name);
        assert_eq!(l.def.slug.as_str(), name);
    }
    let all = load_dir(
        &common::repo().join("collections"),
        chrono_tz::Europe::London,
    )
    .unwrap();
    assert_eq!(all.len(), 4);
}

#[test]
fn unknown_item_type_names_file_field_and_reason() {
    let text = census_text().replacen("type = \"code\"", "type = \"integr\"", 1);
    let p = problems(&text);
    assert!(
        p.contains(&"collections/x.toml: items[3].type: unknown type \"integr\" (expected one of: integer, decimal, string, date, timestamp, code, bool)".to_string()),
        "{p:#?}"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let text = census_text()
        .replacen("licence_term_months = 36", "licence_term_months = 48", 1)
        .replacen("sponsor = \"NHS England\"", "sponsr = \"NHS England\"", 1)
        .replacen("cron = \"0 9 * * *\"", "cron = \"0 25 * * *\"", 1)
        .replacen(
            "timezone = \"Europe/London\"",
            "timezone = \"Europe/Londn\"",
            1,
        )
        .replacen(
            "check = \"occupied_beds <= available_beds\"",
            "check = \"occupied <= available_beds\"",
            1,
        )
        .replacen("name = \"ward_code\"", "name = \"site_code\"", 1);
    let p = problems(&text);
    let fields: Vec<&str> = p.iter().map(|l| l.split(": ").nth(1).unwrap()).collect();
    for expected in [
        "licence_term_months",
        "sponsor",
        "sponsr",
        "frequency.cron",
        "frequency.timezone",
        "rules[0].check",
        "items[2].name",
    ] {
        assert!(fields.contains(&expected), "{expected} missing from {p:#?}");
    }
    assert!(
        p.iter().any(|l| l.contains("three years at most")),
        "{p:#?}"
    );
}

#[test]
fn malformed_toml_names_line_and_column() {
    let p = problems("slug = \"x\"\ntitle = \n");
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("collections/x.toml: line 2, column"),
        "{p:?}"
    );
    assert!(p[0].contains("not valid TOML"), "{p:?}");
}

#[test]
fn item_rules_are_checked() {
    let text = census_text()
        .replacen("codes = [\"overnight\", \"day_only\"]", "codes = []", 1)
        .replacen("min = 0\nmax = 500", "min = 600\nmax = 500", 1)
        .replacen("measure = \"non_person\"", "measure = \"people\"", 1)
        .replacen("pattern = \"^[A-Z0-9]{5}$\"", "pattern = \"^[A-Z\"", 1);
    let p = problems(&text).join("\n");
    assert!(
        p.contains("items[4].codes: a code item must list its allowed codes"),
        "{p}"
    );
    assert!(p.contains("items[8].max: 500 is below min 600"), "{p}");
    assert!(
        p.contains("items[8].measure: unknown measure kind \"people\""),
        "{p}"
    );
    assert!(p.contains("items[1].pattern: not a valid pattern"), "{p}");
}

#[test]
fn a_slug_defined_twice_in_a_folder_is_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), census_text()).unwrap();
    std::fs::write(dir.path().join("b.toml"), census_text()).unwrap();
    let Err(Problems(p)) = load_dir(dir.path(), chrono_tz::Europe::London) else {
        panic!("should not load");
    };
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].field, "slug");
    assert!(p[0].file.ends_with("b.toml"));
    assert!(p[0].reason.contains("a.toml"), "{}", p[0]);
}

#[test]
fn retiring_the_same_collection_twice_is_refused_at_load() {
    let text = census_text().replacen(
        "amendment_window = \"28d\"",
        "amendment_window = \"28d\"\nretires = [\"kh03-manual\", \"kh03-manual\"]",
        1,
    );
    let p = problems(&text);
    assert!(
        p.contains(
            &"collections/x.toml: retires[1]: \"kh03-manual\" is named more than once".to_string()
        ),
        "{p:#?}"
    );
}

#[test]
fn a_non_ascii_deadline_is_a_problem_not_a_crash() {
    let p = problems(&census_text().replacen("deadline = \"12h\"", "deadline = \"5日\"", 1));
    assert!(
        p.contains(
            &"collections/x.toml: deadline: \"5日\" is not a duration like \"26h\" or \"5d\""
                .to_string()
        ),
        "{p:#?}"
    );
}

#[test]
fn the_schedule_must_fit_the_period() {
    let p = problems(&census_text().replacen("cron = \"0 9 * * *\"", "cron = \"*/5 * * * *\"", 1));
    assert!(
        p.iter()
            .any(|l| l.contains("frequency.cron: \"*/5 * * * *\" fires more than once a day")),
        "{p:#?}"
    );
    let p = problems(&census_text().replacen("cron = \"0 9 * * *\"", "cron = \"0 6 1 1 *\"", 1));
    assert!(
        p.iter()
            .any(|l| l.contains("fires once a year, too seldom to collect every day")),
        "{p:#?}"
    );
    let p = problems(&census_text().replacen("cron = \"0 9 * * *\"", "cron = \"0 0 30 2 *\"", 1));
    assert!(
        p.iter().any(|l| l.contains("\"0 0 30 2 *\" never fires")),
        "{p:#?}"
    );
    // Weekdays only: 261 sign-offs a year, and that is what burden counts.
    let dir = tempfile::tempdir().unwrap();
    let weekdays = variant(
        dir.path(),
        "ward-bed-census",
        &[("cron = \"0 9 * * *\"", "cron = \"0 9 * * 1-5\"")],
    )
    .def;
    assert_eq!(weekdays.frequency.submissions_per_year(), 261.0);
}

#[test]
fn burden_inputs_have_sane_limits() {
    let p =
        problems(&census_text().replacen("automated_minutes = 2", "automated_minutes = 1e308", 1));
    assert!(
        p.contains(
            &"collections/x.toml: burden.automated_minutes: must be from 0 to 10080".to_string()
        ),
        "{p:#?}"
    );
    let p =
        problems(&census_text().replacen("automated_minutes = 2", "automated_minutes = nan", 1));
    assert!(
        p.contains(
            &"collections/x.toml: burden.automated_minutes: NaN is not a finite number".to_string()
        ),
        "{p:#?}"
    );
    let p = problems(&census_text().replacen("estimated = 190", "estimated = 4294967296", 1));
    assert!(
        p.contains(
            &"collections/x.toml: respondents.estimated: must be a whole number from 0 to 1000000"
                .to_string()
        ),
        "{p:#?}"
    );
}

#[test]
fn text_cannot_forge_register_lines_or_send_escapes() {
    let p = problems(&census_text().replacen(
        "title = \"Daily ward bed census\"",
        "title = \"Census\\nDAP0099 fake-entry [listed]\"",
        1,
    ));
    assert!(
        p.contains(&"collections/x.toml: title: must be on one line".to_string()),
        "{p:#?}"
    );
    let p = problems(&census_text().replacen(
        "sponsor = \"NHS England\"",
        "sponsor = \"NHS \\u001b[31mEngland\"",
        1,
    ));
    assert!(
        p.contains(&"collections/x.toml: sponsor: must not hold control characters".to_string()),
        "{p:#?}"
    );
}
