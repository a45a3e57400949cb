//! The burden report as of a day: made again later, after more has been recorded, it is
//! the same file byte for byte; filed, it reads back as it was filed.

use crate::common;

use calamine::Reader;
use chrono::NaiveDate;
use common::world::{HOMES, census, utc, world};
use tally::domain::budget::StaffRates;
use tally::registry::report_files::{Format, write};
use tally::registry::views::BudgetChange;
use tally::schedule::upload::{HandIn, Handed, hand_in};

fn rates() -> StaffRates {
    StaffRates {
        source: "Rates made up for the tests".into(),
        per_hour: [
            ("bed_manager".to_string(), 30.0),
            ("care_home_manager".to_string(), 25.0),
        ]
        .into(),
    }
}

#[tokio::test]
async fn a_report_as_of_a_day_is_the_same_bytes_whenever_it_is_made_and_as_filed() {
    let w = world().await;
    let r = &w.registry;
    let rates = rates();
    r.set_budget(
        BudgetChange {
            cap_hours: Some(200.0),
            baseline_hours: None,
            baseline_date: None,
            goal_hours: Some(20.0),
            target_date: NaiveDate::from_ymd_opt(2028, 3, 31),
        },
        common::dap(),
        "the 2026 target",
        utc("2026-04-02T10:00:00Z"),
    )
    .await
    .unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 5).unwrap();
    let made = |formats: &[Format], report: &tally::registry::report::ProgressReport| {
        formats
            .iter()
            .map(|f| write(report, *f).unwrap())
            .collect::<Vec<_>>()
    };
    let all = [Format::Json, Format::Csv, Format::Xlsx];
    let first = r.progress_report(as_of, Some(&rates)).await.unwrap();
    let before = made(&all, &first);

    // After the day: a correction, an upload by hand, a new trust, a retirement and a new
    // budget are recorded.
    let day = NaiveDate::from_ymd_opt(2026, 6, 10).unwrap();
    let corrected = census("RXA", day).replacen(",20,18", ",20,17", 1);
    w.pull_census(
        "RXA",
        "2026-06-10",
        &corrected,
        utc("2026-06-12T09:00:00Z"),
        true,
    )
    .await;
    let file = w.dir.path().join("elm-june.csv");
    std::fs::write(&file, format!("{HOMES}\n2026-06-30,25,24,0,1\n")).unwrap();
    hand_in(
        &w.registry,
        &w.lake,
        HandIn {
            collection: "care-home-capacity".into(),
            provider: "1-102".into(),
            period: "2026-06".into(),
            handed: Handed::File {
                path: file,
                name: "elm-june.csv".into(),
            },
            via: "cli",
            replace: false,
        },
        utc("2026-07-02T09:00:00Z"),
        tally::schedule::pull::Timing::Fixed,
    )
    .await
    .unwrap();
    w.add_trust_and_retire_homes(utc("2026-06-20T10:00:00Z"), utc("2026-07-06T10:00:00Z"))
        .await;
    r.set_budget(
        BudgetChange {
            cap_hours: Some(100.0),
            baseline_hours: None,
            baseline_date: None,
            goal_hours: None,
            target_date: None,
        },
        common::dap(),
        "a lower cap",
        utc("2026-07-07T10:00:00Z"),
    )
    .await
    .unwrap();

    let again = r.progress_report(as_of, Some(&rates)).await.unwrap();
    assert_eq!(again, first);
    let after = made(&all, &again);
    for ((f, a), b) in all.iter().zip(&after).zip(&before) {
        assert!(a == b, "{f:?} differs when made again");
    }
    // A later day sees what came after.
    let later = r
        .progress_report(NaiveDate::from_ymd_opt(2026, 7, 8).unwrap(), Some(&rates))
        .await
        .unwrap();
    assert_ne!(later.estimated_hours, first.estimated_hours);
    assert_eq!(later.budget.as_ref().unwrap().cap_hours, Some(100.0));
    assert!(later.decisions.iter().any(|d| d.action == "retire"));
    assert!(!first.decisions.iter().any(|d| d.action == "retire"));

    // Filed, it is kept as it was and reads back to the same files.
    let now = utc("2026-07-10T09:00:00Z");
    let (filed, id) = r
        .file_report(as_of, common::dap(), now, Some(&rates))
        .await
        .unwrap();
    assert_eq!(filed, first);
    let (row, _, back) = r.filed_report(id).await.unwrap().unwrap();
    assert_eq!((row.as_of, row.filed_by.as_str()), (as_of, common::dap()));
    assert_eq!(made(&all, &back), before);
    let listed = r.store().burden_reports().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256.len(), 64);
    // A day still to come, or nameless filing, is refused.
    let e = r
        .progress_report_checked(NaiveDate::from_ymd_opt(2026, 7, 11).unwrap(), now, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("that day is not over"), "{e}");
    // Nor is today.
    assert!(
        r.progress_report_checked(NaiveDate::from_ymd_opt(2026, 7, 10).unwrap(), now, None)
            .await
            .is_err()
    );
    assert!(r.file_report(as_of, " ", now, None).await.is_err());

    // The workbook and the long table carry the same figures as the report.
    let mut book =
        calamine::Xlsx::new(std::io::Cursor::new(before[2].clone())).expect("a workbook");
    assert_eq!(
        book.sheet_names(),
        [
            "Headline",
            "Causes",
            "Collections",
            "Trajectory",
            "Decisions"
        ]
    );
    let headline = book.worksheet_range("Headline").unwrap();
    assert_eq!(
        headline.get_value((2, 1)),
        Some(&calamine::Data::Float(first.estimated_hours))
    );
    let table = String::from_utf8(before[1].clone()).unwrap();
    assert!(table.starts_with("section,on,collection,measure,value,text\n"));
    assert!(
        table.contains(&format!(
            "headline,2026-06-05,,estimated_hours,{},",
            first.estimated_hours
        )),
        "{table}"
    );
    // Priced: the estimate in pounds is each collection's hours at its group's rate.
    let pounds: f64 = first
        .collections
        .iter()
        .map(|c| {
            c.annual_hours
                * match c.staff_group.as_deref() {
                    Some("bed_manager") => 30.0,
                    Some("care_home_manager") => 25.0,
                    other => panic!("no rate for {other:?}"),
                }
        })
        .sum();
    assert!((first.estimated_pounds.unwrap() - pounds).abs() < 1e-6);
    // The changes since the baseline add up to the estimate on the day.
    let c = &first.causes;
    assert!(
        (c.start_hours + c.programme_change_hours + c.adjustment_hours + c.automation_hours
            - c.end_hours)
            .abs()
            < 1e-6
    );
    assert!((c.end_hours - first.estimated_hours).abs() < 1e-6);
}
