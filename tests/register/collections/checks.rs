//! The creep checks as pure functions of the register's state: derivability, duplicates,
//! the burden cap and what a replacement retires, a new version that asks more, and the order
//! findings are listed in.

use crate::common::{self, load, load_text, variant};
use chrono::{NaiveDate, Utc};

use tally::domain::budget::Budget;
use tally::domain::definition::CollectionDef;
use tally::domain::finding::{Finding, Rule, Severity};
use tally::registry::checks::{self, Context, Listed};

fn on() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn run(p: &CollectionDef, listed: &[&CollectionDef], budget: Option<&Budget>) -> Vec<Finding> {
    let cx = Context {
        listed: listed
            .iter()
            .map(|d| Listed {
                licence_number: Some("DAP0001"),
                def: d,
            })
            .collect(),
        providers: &[],
        estimates: &[],
        budget,
        on: on(),
    };
    checks::run(p, &cx)
}

fn finding(findings: &[Finding], rule: Rule) -> &Finding {
    findings
        .iter()
        .find(|f| f.rule == rule && f.severity != Severity::Pass)
        .or_else(|| findings.iter().find(|f| f.rule == rule))
        .unwrap()
}

#[test]
fn manual_sitrep_and_kh03_are_derivable_from_the_census() {
    let census = load("ward-bed-census").def;
    for name in ["uec-sitrep-manual", "kh03-manual"] {
        let manual = load(name).def;
        let f = run(&manual, &[&census], None);
        let d = finding(&f, Rule::Derivable);
        assert_eq!(d.severity, Severity::Blocking, "{name}: {}", d.message);
        assert_eq!(d.related, vec!["ward-bed-census".to_string()]);
        assert!(
            d.message.contains("license a query instead"),
            "{}",
            d.message
        );
    }
}

#[test]
fn the_census_is_not_derivable_from_the_manual_forms() {
    let census = load("ward-bed-census").def;
    let sitrep = load("uec-sitrep-manual").def;
    let kh03 = load("kh03-manual").def;
    let f = run(&census, &[&sitrep, &kh03], None);
    assert_eq!(finding(&f, Rule::Derivable).severity, Severity::Pass);
    // It asks daily for beds that KH03 asks for quarterly: flagged, not blocked.
    let freq = finding(&f, Rule::Frequency);
    assert_eq!(freq.severity, Severity::Warning);
    assert_eq!(freq.related, vec!["kh03-manual".to_string()]);
}

#[test]
fn derivability_needs_grain_frequency_and_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let sitrep = load("uec-sitrep-manual").def;
    // A census only monthly cannot give a daily SitRep.
    let monthly = variant(
        dir.path(),
        "ward-bed-census",
        &[
            ("period = \"day\"", "period = \"month\""),
            ("cron = \"0 9 * * *\"", "cron = \"0 9 1 * *\""),
        ],
    )
    .def;
    assert_eq!(
        finding(&run(&sitrep, &[&monthly], None), Rule::Derivable).severity,
        Severity::Pass
    );
    // A census at provider level cannot give a ward-level breakdown.
    let by_ward = variant(
        dir.path(),
        "uec-sitrep-manual",
        &[("grain = \"provider\"", "grain = \"ward\"")],
    )
    .def;
    let census = load("ward-bed-census").def;
    let coarse = variant(
        dir.path(),
        "ward-bed-census",
        &[("grain = \"ward\"", "grain = \"provider\"")],
    )
    .def;
    assert_eq!(
        finding(&run(&by_ward, &[&coarse], None), Rule::Derivable).severity,
        Severity::Pass
    );
    assert_eq!(
        finding(&run(&by_ward, &[&census], None), Rule::Derivable).severity,
        Severity::Blocking
    );
    // Without the escalation bed class, the escalation beds cannot be computed: only part is derivable.
    let no_escalation = variant(
        dir.path(),
        "ward-bed-census",
        &[("codes = [\"core\", \"escalation\"]", "codes = [\"core\"]")],
    )
    .def;
    let d = run(&sitrep, &[&no_escalation], None);
    let d = finding(&d, Rule::Derivable);
    assert_eq!(d.severity, Severity::Warning, "{}", d.message);
    assert!(d.message.contains("6 of its 10 measures"), "{}", d.message);
    assert!(
        d.message.contains("ga_adult_escalation_available"),
        "{}",
        d.message
    );
}

#[test]
fn a_copy_under_a_new_name_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let homes = load("care-home-capacity").def;
    let copy = variant(
        dir.path(),
        "care-home-capacity",
        &[("slug = \"care-home-capacity\"", "slug = \"care-home-beds\"")],
    )
    .def;
    let f = run(&copy, &[&homes], None);
    let dup = finding(&f, Rule::Duplicate);
    assert_eq!(dup.severity, Severity::Blocking);
    assert!(
        dup.message
            .contains("care-home-capacity (DAP0001) already collects max_capacity"),
        "{}",
        dup.message
    );
    // Renaming the identifying items changes nothing: the measures are asked for again.
    let census = load("ward-bed-census").def;
    let renamed = variant(
        dir.path(),
        "ward-bed-census",
        &[
            ("slug = \"ward-bed-census\"", "slug = \"ward-census-two\""),
            ("name = \"ward_code\"", "name = \"ward_ref\""),
            ("\"ward_code\", \"stay\"", "\"ward_ref\", \"stay\""),
        ],
    )
    .def;
    let f = run(&renamed, &[&census], None);
    assert_eq!(finding(&f, Rule::Duplicate).severity, Severity::Blocking);
    // A different concept under the same item name is not a duplicate.
    let f = run(&homes, &[&census], None);
    assert_eq!(finding(&f, Rule::Duplicate).severity, Severity::Pass);
}

fn budget(cap: f64) -> Budget {
    Budget {
        cap_hours: Some(cap),
        baseline_hours: Some(30_000.0),
        baseline_date: Some(on()),
        goal_hours: Some(15_000.0),
        target_date: NaiveDate::from_ymd_opt(2028, 3, 31),
        set_by: "DAP".into(),
        reason: "test".into(),
        set_at: Utc::now(),
    }
}

#[test]
fn a_proposal_over_the_cap_is_blocked_unless_it_retires_enough() {
    let dir = tempfile::tempdir().unwrap();
    let sitrep = load("uec-sitrep-manual").def; // 25,550 h
    let kh03 = load("kh03-manual").def; // 3,040 h
    let survey_text = std::fs::read_to_string(
        common::repo().join("collections/proposals/discharge-readiness-survey.toml"),
    )
    .unwrap();
    let survey = load_text(dir.path(), "survey.toml", &survey_text).def; // 34,067 h
    let cap = budget(32_000.0);
    let f = run(&survey, &[&sitrep, &kh03], Some(&cap));
    let b = finding(&f, Rule::Budget);
    assert_eq!(b.severity, Severity::Blocking);
    assert!(
        b.message.contains("over DAP's cap of 32,000 h by 30,657 h"),
        "{}",
        b.message
    );

    // Retiring the SitRep offsets 25,550 h: 28,590 - 25,550 + 34,067 = 37,107 h, still over.
    let retiring_one = survey_text.replacen(
        "licence_term_months = 24",
        "licence_term_months = 24\nretires = [\"uec-sitrep-manual\"]",
        1,
    );
    let one = load_text(dir.path(), "one.toml", &retiring_one).def;
    assert_eq!(
        finding(&run(&one, &[&sitrep, &kh03], Some(&cap)), Rule::Budget).severity,
        Severity::Blocking
    );
    // Retiring both: 34,067 h, within a cap of 35,000.
    let retiring_both = survey_text.replacen(
        "licence_term_months = 24",
        "licence_term_months = 24\nretires = [\"uec-sitrep-manual\", \"kh03-manual\"]",
        1,
    );
    let both = load_text(dir.path(), "both.toml", &retiring_both).def;
    let f = run(&both, &[&sitrep, &kh03], Some(&budget(35_000.0)));
    let b: Vec<&Finding> = f.iter().filter(|x| x.rule == Rule::Budget).collect();
    assert!(b.iter().all(|x| !x.is_blocking()), "{b:#?}");
    assert!(
        b.iter().any(|x| x
            .message
            .contains("net of 28,590 h retired with it), within DAP's cap")),
        "{b:#?}"
    );
    // It is still above the reduction trajectory (30,000 h today): a warning for DAP.
    assert!(
        b.iter().any(|x| x.severity == Severity::Warning
            && x.message.contains("above the reduction trajectory")),
        "{b:#?}"
    );
    // Naming something unlisted offsets nothing and is itself blocking.
    let bogus = survey_text.replacen(
        "licence_term_months = 24",
        "licence_term_months = 24\nretires = [\"no-such-return\"]",
        1,
    );
    let bogus = load_text(dir.path(), "bogus.toml", &bogus).def;
    let f = run(&bogus, &[&sitrep], None);
    assert!(f.iter().any(|x| x.rule == Rule::Budget
        && x.is_blocking()
        && x.message.contains("no-such-return")));
}

#[test]
fn a_proposal_that_lowers_burden_is_never_blocked_by_the_cap() {
    let sitrep = load("uec-sitrep-manual").def;
    let census = load("ward-bed-census").def;
    let dir = tempfile::tempdir().unwrap();
    let replacing = variant(
        dir.path(),
        "ward-bed-census",
        &[(
            "amendment_window = \"28d\"",
            "amendment_window = \"28d\"\nretires = [\"uec-sitrep-manual\"]",
        )],
    )
    .def;
    // The register is already over a cap of 10,000 h; the census that retires the SitRep lowers it.
    let f = run(&replacing, &[&sitrep], Some(&budget(10_000.0)));
    assert_eq!(finding(&f, Rule::Budget).severity, Severity::Pass);
    let f = run(&census, &[&sitrep], Some(&budget(10_000.0)));
    assert_eq!(finding(&f, Rule::Budget).severity, Severity::Blocking);
}

#[test]
fn a_new_version_that_adds_items_or_frequency_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let homes = load("care-home-capacity").def;
    let more = variant(
        dir.path(),
        "care-home-capacity",
        &[
            ("period = \"month\"", "period = \"day\""),
            ("cron = \"0 6 1 * *\"", "cron = \"0 6 * * *\""),
            ("[[rules]]", "[[items]]\nname = \"staff_vacancies\"\ntype = \"integer\"\nmin = 0\nconcept = \"care_home.staff.vacancies\"\nmeasure = \"non_person\"\n\n[[rules]]"),
        ],
    )
    .def;
    let f = run(&more, &[&homes], None);
    let s = finding(&f, Rule::Scope);
    assert_eq!(s.severity, Severity::Warning);
    assert!(
        s.message.contains("adds items staff_vacancies"),
        "{}",
        s.message
    );
    assert!(
        s.message.contains("raises frequency from monthly to daily"),
        "{}",
        s.message
    );
    // Its own version in force is neither a duplicate nor a source to derive from.
    assert_eq!(finding(&f, Rule::Duplicate).severity, Severity::Pass);
    assert_eq!(finding(&f, Rule::Derivable).severity, Severity::Pass);
    let same = run(&homes, &[&homes], None);
    assert_eq!(finding(&same, Rule::Scope).severity, Severity::Pass);
}

#[test]
fn findings_list_blocking_first_and_cover_every_rule() {
    let census = load("ward-bed-census").def;
    let sitrep = load("uec-sitrep-manual").def;
    let f = run(&sitrep, &[&census], None);
    assert!(f[0].is_blocking());
    for rule in Rule::ALL {
        assert!(f.iter().any(|x| x.rule == rule), "no finding for {rule}");
    }
}

#[test]
fn a_replacement_is_not_checked_against_what_it_retires() {
    let dir = tempfile::tempdir().unwrap();
    let kh03 = load("kh03-manual").def;
    // The same return, automated, retiring the manual one: one in, one out.
    let automated = variant(
        dir.path(),
        "kh03-manual",
        &[
            ("slug = \"kh03-manual\"", "slug = \"kh03-automated\""),
            ("capture = \"manual\"", "capture = \"automated\""),
            (
                "licence_term_months = 36",
                "licence_term_months = 36\nretires = [\"kh03-manual\"]",
            ),
        ],
    )
    .def;
    let f = run(&automated, &[&kh03], None);
    assert!(f.iter().all(|x| !x.is_blocking()), "{f:#?}");
    // Without the retirement it is a duplicate of the manual return, and derivable from it.
    let text = std::fs::read_to_string(common::collection_path("kh03-manual")).unwrap();
    let copy = load_text(
        dir.path(),
        "copy.toml",
        &text.replacen("slug = \"kh03-manual\"", "slug = \"kh03-automated\"", 1),
    )
    .def;
    let f = run(&copy, &[&kh03], None);
    assert_eq!(finding(&f, Rule::Duplicate).severity, Severity::Blocking);
    assert_eq!(finding(&f, Rule::Derivable).severity, Severity::Blocking);
}

#[test]
fn figures_are_derivable_only_from_collections_the_same_providers_submit() {
    let dir = tempfile::tempdir().unwrap();
    let census = load("ward-bed-census").def;
    let community = variant(
        dir.path(),
        "uec-sitrep-manual",
        &[("kinds = [\"acute_trust\"]", "kinds = [\"community_trust\"]")],
    )
    .def;
    let f = run(&community, &[&census], None);
    assert_eq!(finding(&f, Rule::Derivable).severity, Severity::Pass);
    let both = variant(
        dir.path(),
        "uec-sitrep-manual",
        &[(
            "kinds = [\"acute_trust\"]",
            "kinds = [\"acute_trust\", \"community_trust\"]",
        )],
    )
    .def;
    assert_eq!(
        finding(&run(&both, &[&census], None), Rule::Derivable).severity,
        Severity::Pass
    );
}

#[test]
fn a_definition_says_its_notice_and_less_than_the_usual_is_a_warning() {
    let homes = load("care-home-capacity").def;
    assert_eq!(
        homes.notice_days, 56,
        "56 days unless a definition says otherwise"
    );
    assert_eq!(
        finding(&run(&homes, &[], None), Rule::Notice).severity,
        Severity::Pass
    );
    let dir = tempfile::tempdir().unwrap();
    let short = |days: &str| {
        let text = std::fs::read_to_string(crate::common::collection_path("care-home-capacity"))
            .unwrap()
            .replacen(
                "capture = ",
                &format!("notice_days = {days}\ncapture = "),
                1,
            );
        let path = dir.path().join("short.toml");
        std::fs::write(&path, text).unwrap();
        tally::registry::load::load_file(&path, chrono_tz::Europe::London)
    };
    let quick = short("14").unwrap().def;
    assert_eq!(quick.notice_days, 14);
    let f = run(&quick, &[], None);
    let n = finding(&f, Rule::Notice);
    assert_eq!(n.severity, Severity::Warning);
    assert!(
        n.message.contains("14 days' notice, less than the 56"),
        "{}",
        n.message
    );
    for bad in ["-1", "400", "\"soon\""] {
        let e = short(bad).unwrap_err().to_string();
        assert!(e.contains("notice_days"), "{bad}: {e}");
    }
}

#[test]
fn a_definition_may_take_nil_returns_and_say_what_declaring_one_costs() {
    let homes = load("care-home-capacity").def;
    assert!(
        !homes.nil_return,
        "no nil returns unless a definition says so"
    );
    let dir = tempfile::tempdir().unwrap();
    let with = |top: &str, burden: &str| {
        let text = std::fs::read_to_string(crate::common::collection_path("care-home-capacity"))
            .unwrap()
            .replacen("capture = ", &format!("{top}capture = "), 1)
            .replacen("[burden]\n", &format!("[burden]\n{burden}"), 1);
        let path = dir.path().join("nil.toml");
        std::fs::write(&path, text).unwrap();
        tally::registry::load::load_file(&path, chrono_tz::Europe::London)
    };
    let def = with("nil_return = true\n", "").unwrap().def;
    assert!(def.nil_return);
    assert_eq!(
        def.burden.nil_minutes(),
        def.burden.automated_minutes,
        "a sign-off's minutes unless the listing says"
    );
    let def = with("nil_return = true\n", "nil_minutes = 3\n")
        .unwrap()
        .def;
    assert_eq!(def.burden.nil_minutes(), 3.0);
    let e = with("nil_return = \"yes\"\n", "").unwrap_err().to_string();
    assert!(e.contains("nil_return: expected true or false"), "{e}");
    let e = with("", "nil_minutes = -1\n").unwrap_err().to_string();
    assert!(e.contains("burden.nil_minutes"), "{e}");
}

#[test]
fn plausibility_fix_minutes_and_staff_groups_are_read_and_bad_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    // The care-home snapshot, with `extra` added as top-level tables or burden keys.
    let with = |burden: &str, extra: &str| {
        let text = std::fs::read_to_string(crate::common::collection_path("care-home-capacity"))
            .unwrap()
            .replacen("staff_group = \"care_home_manager\"\n", "", 1)
            .replacen("[burden]\n", &format!("[burden]\n{burden}"), 1)
            .replacen("[[items]]", &format!("{extra}[[items]]"), 1);
        let path = dir.path().join("homes.toml");
        std::fs::write(&path, text).unwrap();
        tally::registry::load::load_file(&path, chrono_tz::Europe::London)
    };
    let def = with("fix_minutes = 12\n", "[plausibility]\nthreshold = 5\n\n")
        .unwrap()
        .def;
    assert_eq!(def.burden.fix_minutes(), 12.0);
    let p = def.plausibility.unwrap();
    assert_eq!((p.threshold, p.periods, p.zero), (5.0, 8, true));
    let homes = load("care-home-capacity").def;
    assert_eq!(homes.burden.fix_minutes(), homes.burden.manual_minutes);
    assert_eq!(
        homes.burden.staff_group.as_deref(),
        Some("care_home_manager")
    );
    for (burden, extra, named) in [
        (
            "",
            "[plausibility]\nthreshold = 0.5\n\n",
            "plausibility.threshold",
        ),
        (
            "",
            "[plausibility]\nthreshold = 5\nperiods = 3\n\n",
            "plausibility.periods",
        ),
        (
            "",
            "[plausibility]\nthreshold = 5\nweeks = 8\n\n",
            "plausibility.weeks",
        ),
        ("", "[plausibility]\n\n", "plausibility.threshold"),
        ("fix_minutes = -1\n", "", "burden.fix_minutes"),
        ("staff_group = \"Bed Manager\"\n", "", "burden.staff_group"),
    ] {
        let e = with(burden, extra).unwrap_err().to_string();
        assert!(e.contains(named), "{burden}{extra}: {e}");
    }
}
