//! Decisions made at the same moment: two approvals list once, listings get distinct licence
//! numbers, proposals successive versions, and approvals together cannot break the cap.

use crate::common::{self, TestDb, dap, load, variant};

use tally::registry::views::BudgetChange;

use super::{at, refused};

contract!(
    two_approvals_at_once_list_exactly_once,
    listings_at_once_get_distinct_licence_numbers,
    proposals_at_once_get_successive_versions,
    approvals_at_once_cannot_break_the_cap_together,
);

async fn two_approvals_at_once_list_exactly_once(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("ward-bed-census"), "NHS England", at(1))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        r.approve("ward-bed-census", "Member A", "ok", vec![], at(2)),
        r.approve("ward-bed-census", "Member B", "ok", vec![], at(2)),
    );
    let (ok, err) = match (a, b) {
        (Ok(l), Err(e)) | (Err(e), Ok(l)) => (l, e),
        other => panic!("exactly one approval should succeed: {other:?}"),
    };
    assert_eq!(ok.licence_number, "DAP0001");
    // The second waited for the first, found the register changed, checked again and
    // found nothing left to decide.
    assert!(
        refused(&err).contains("has no proposal awaiting a decision"),
        "{err:#}"
    );
    let decisions = r.show("ward-bed-census", at(3)).await.unwrap().decisions;
    assert_eq!(decisions.iter().filter(|d| d.action == "list").count(), 1);
}

async fn listings_at_once_get_distinct_licence_numbers(db: &TestDb) {
    let r = db.registry().await;
    // Three collections none of which is derivable from, or duplicates, another.
    let survey = tally::registry::load::load_file(
        &common::repo().join("collections/proposals/discharge-readiness-survey.toml"),
        chrono_tz::Europe::London,
    )
    .unwrap();
    for def in [load("ward-bed-census"), load("care-home-capacity"), survey] {
        r.propose(&def, "sponsor", at(1)).await.unwrap();
    }
    let (a, b, c) = tokio::join!(
        r.approve("ward-bed-census", dap(), "ok", vec![], at(2)),
        r.approve("care-home-capacity", dap(), "ok", vec![], at(2)),
        r.approve("discharge-readiness-survey", dap(), "ok", vec![], at(2)),
    );
    let mut numbers: Vec<String> = [a, b, c]
        .into_iter()
        .map(|l| l.unwrap().licence_number)
        .collect();
    numbers.sort();
    assert_eq!(numbers, ["DAP0001", "DAP0002", "DAP0003"]);
}

async fn proposals_at_once_get_successive_versions(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("kh03-manual"), "NHS England", at(1))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = variant(
        dir.path(),
        "kh03-manual",
        &[("licence_term_months = 36", "licence_term_months = 12")],
    );
    let b = variant(
        dir.path(),
        "kh03-manual",
        &[("licence_term_months = 36", "licence_term_months = 24")],
    );
    let (x, y) = tokio::join!(r.propose(&a, "one", at(2)), r.propose(&b, "two", at(2)));
    let mut versions = [x.unwrap().version, y.unwrap().version];
    versions.sort();
    assert_eq!(versions, [2, 3]);
}

async fn approvals_at_once_cannot_break_the_cap_together(db: &TestDb) {
    let r = db.registry().await;
    // Room under the cap for the census (2,312 h) or for care homes (14,800 h), not both.
    r.set_budget(
        BudgetChange {
            cap_hours: Some(15_000.0),
            ..Default::default()
        },
        dap(),
        "cap",
        at(1),
    )
    .await
    .unwrap();
    for name in ["ward-bed-census", "care-home-capacity"] {
        let p = r.propose(&load(name), "sponsor", at(1)).await.unwrap();
        assert!(!p.report.is_blocked(), "{name} alone fits");
    }
    let (a, b) = tokio::join!(
        r.approve("ward-bed-census", dap(), "ok", vec![], at(2)),
        r.approve("care-home-capacity", dap(), "ok", vec![], at(2)),
    );
    let err = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        other => panic!("exactly one should be listed: {other:?}"),
    };
    assert!(
        refused(&err).contains("budget: It costs an estimated"),
        "{err:#}"
    );
    let b = r.burden(at(3)).await.unwrap();
    assert!(b.total_hours <= 15_000.0, "{}", b.total_hours);
}
