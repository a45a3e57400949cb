//! Blocking findings and the burden budget: an override needs a reason, offsets are retired
//! in the same step as the listing, and a budget change keeps what it does not give.

use crate::common::{TestDb, dap, load, variant};

use tally::domain::finding::Override;
use tally::domain::finding::Rule;
use tally::registry::views::BudgetChange;

use super::{at, refused};

contract!(
    blocking_findings_need_an_override_with_a_reason,
    listing_with_offsets_retires_them_in_the_same_step,
    budget_changes_keep_what_is_not_given,
);

async fn blocking_findings_need_an_override_with_a_reason(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("ward-bed-census"), "NHS England", at(1))
        .await
        .unwrap();
    r.approve("ward-bed-census", dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    let p = r
        .propose(&load("uec-sitrep-manual"), "NHS England", at(2))
        .await
        .unwrap();
    assert!(p.report.is_blocked());

    let e = r
        .approve("uec-sitrep-manual", dap(), "winter", vec![], at(3))
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("derivable: Every one of its 10 measures"),
        "{e}"
    );
    let no_reason = Override::parse("derivable=").unwrap();
    let e = r
        .approve("uec-sitrep-manual", dap(), "winter", vec![no_reason], at(3))
        .await
        .unwrap_err();
    assert!(refused(&e).contains("has no reason"), "{e}");
    let wrong_rule = Override::parse("budget=not needed").unwrap();
    let e = r
        .approve(
            "uec-sitrep-manual",
            dap(),
            "winter",
            vec![Override::parse("derivable=x").unwrap(), wrong_rule],
            at(3),
        )
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("nothing under the budget rule blocks"),
        "{e}"
    );
    assert_eq!(
        r.show("uec-sitrep-manual", at(3)).await.unwrap().status,
        "proposed"
    );

    let why = "The census does not yet cover every trust this winter; one season only.";
    let o = Override::parse(&format!("derivable={why}")).unwrap();
    r.approve("uec-sitrep-manual", dap(), "winter", vec![o.clone()], at(4))
        .await
        .unwrap();
    let entry = r
        .register(at(5))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug == "uec-sitrep-manual")
        .unwrap();
    assert_eq!(entry.overrides, vec![o]);
    let log = r.show("uec-sitrep-manual", at(5)).await.unwrap().decisions;
    let list = log.iter().find(|d| d.action == "list").unwrap();
    assert!(
        list.findings
            .0
            .iter()
            .any(|f| f.rule == Rule::Derivable && f.is_blocking())
    );
    assert_eq!(list.overrides.0[0].reason, why);
}

async fn listing_with_offsets_retires_them_in_the_same_step(db: &TestDb) {
    let r = db.registry().await;
    for name in ["uec-sitrep-manual", "kh03-manual"] {
        r.propose(&load(name), "NHS England", at(1)).await.unwrap();
        r.approve(name, dap(), "baseline", vec![], at(1))
            .await
            .unwrap();
    }
    let baseline = r.burden(at(1)).await.unwrap().total_hours;
    r.set_budget(
        BudgetChange {
            cap_hours: Some(baseline),
            ..Default::default()
        },
        dap(),
        "cap at today",
        at(1),
    )
    .await
    .unwrap();
    // Without offsets the census breaks the cap...
    let p = r
        .propose(&load("ward-bed-census"), "NHS England", at(2))
        .await
        .unwrap();
    assert!(
        p.report.blocking().any(|f| f.rule == Rule::Budget),
        "{:#?}",
        p.report.findings
    );
    // ...naming what it retires, it does not, and listing retires them.
    let dir = tempfile::tempdir().unwrap();
    let replacing = variant(
        dir.path(),
        "ward-bed-census",
        &[(
            "amendment_window = \"28d\"",
            "amendment_window = \"28d\"\nretires = [\"uec-sitrep-manual\", \"kh03-manual\"]",
        )],
    );
    let p = r.propose(&replacing, "NHS England", at(3)).await.unwrap();
    assert!(!p.report.is_blocked(), "{:#?}", p.report.findings);
    let l = r
        .approve("ward-bed-census", dap(), "one in, two out", vec![], at(4))
        .await
        .unwrap();
    assert_eq!(l.retired, ["uec-sitrep-manual", "kh03-manual"]);
    for old in ["uec-sitrep-manual", "kh03-manual"] {
        let v = r.show(old, at(5)).await.unwrap();
        assert_eq!(v.status, "retired");
        assert_eq!(
            v.decisions.last().unwrap().reason,
            "replaced by ward-bed-census (one in, one out)"
        );
    }
    let b = r.burden(at(5)).await.unwrap();
    assert_eq!(b.collections.len(), 1);
    assert!(b.headroom_hours.unwrap() > 0.0);
    // The progress report's steps: the baseline on day 1, the census alone once it had
    // retired the forms on day 4, and today's figure.
    let history = r.burden_history(at(5)).await.unwrap();
    let steps: Vec<f64> = history.iter().map(|h| h.1).collect();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!((steps[0] - baseline).abs() < 1e-9, "{history:?}");
    assert!((steps[1] - b.total_hours).abs() < 1e-9, "{history:?}");
    assert_eq!(history[2], (at(5).date_naive(), b.total_hours));
    assert!(history[0].0 < history[1].0 && history[1].0 < history[2].0);
    // Before anything was decided there is only the day asked about.
    assert_eq!(
        r.burden_history(at(1) - chrono::Duration::days(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn budget_changes_keep_what_is_not_given(db: &TestDb) {
    let r = db.registry().await;
    assert!(r.store().budget().await.unwrap().is_none());
    r.propose(&load("kh03-manual"), "NHS England", at(1))
        .await
        .unwrap();
    r.approve("kh03-manual", dap(), "baseline", vec![], at(1))
        .await
        .unwrap();
    let target = chrono::NaiveDate::from_ymd_opt(2028, 3, 31);
    let b = r
        .set_budget(
            BudgetChange {
                goal_hours: Some(1_000.0),
                target_date: target,
                ..Default::default()
            },
            dap(),
            "halve",
            at(2),
        )
        .await
        .unwrap();
    // The baseline is today's total on the day the goal is first set.
    assert_eq!(b.baseline_hours, Some(3_040.0));
    assert_eq!(
        b.baseline_date,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
    );
    let b = r
        .set_budget(
            BudgetChange {
                cap_hours: Some(5_000.0),
                ..Default::default()
            },
            dap(),
            "cap",
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(
        (b.cap_hours, b.goal_hours, b.target_date),
        (Some(5_000.0), Some(1_000.0), target)
    );
    assert_eq!(r.store().budget().await.unwrap().unwrap(), b);
    let e = r
        .set_budget(
            BudgetChange {
                target_date: chrono::NaiveDate::from_ymd_opt(2020, 1, 1),
                ..Default::default()
            },
            dap(),
            "x",
            at(4),
        )
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("must be after the baseline date"),
        "{e}"
    );
    let e = r
        .set_budget(
            BudgetChange {
                cap_hours: Some(-1.0),
                ..Default::default()
            },
            dap(),
            "x",
            at(4),
        )
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("a finite number of hours, 0 or more"),
        "{e}"
    );
    assert_eq!(r.store().budget().await.unwrap().unwrap(), b);
}
