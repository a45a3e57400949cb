//! The register's contract, run against SQLite and PostgreSQL alike: every test here is one
//! async function taking a fresh database, and `contract!` makes a test of it for each
//! backend. The PostgreSQL tests skip with a notice when no server answers, unless `CI` is set.

#[macro_use]
mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{TestDb, dap, load, variant};
use tally::domain::RegistryError;
use tally::domain::finding::Override;
use tally::domain::finding::Rule;
use tally::providers::read_csv;
use tally::registry::governance::StatusChange;
use tally::registry::views::BudgetChange;

contract!(
    listing_assigns_a_licence_and_logs_each_decision,
    licence_numbers_are_never_reused,
    a_new_version_replaces_the_listed_one_only_when_listed,
    rejection_is_logged_and_leaves_nothing_licensed,
    blocking_findings_need_an_override_with_a_reason,
    suspend_reinstate_and_retire,
    licences_expire_after_their_term,
    the_decision_log_is_append_only,
    a_newer_proposal_withdraws_the_pending_one,
    providers_import_and_obligations_follow_open_dates,
    listing_with_offsets_retires_them_in_the_same_step,
    budget_changes_keep_what_is_not_given,
    two_approvals_at_once_list_exactly_once,
    approvals_at_once_cannot_break_the_cap_together,
    a_new_version_of_a_suspended_collection_stays_suspended,
    an_expired_licence_is_renewed_with_the_same_definition,
    listings_at_once_get_distinct_licence_numbers,
    proposals_at_once_get_successive_versions,
);

fn at(day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
}

fn refused(e: &anyhow::Error) -> String {
    match e.downcast_ref::<RegistryError>() {
        Some(r) => r.to_string(),
        None => panic!("expected a RegistryError, got {e:#}"),
    }
}

async fn listing_assigns_a_licence_and_logs_each_decision(db: &TestDb) {
    let r = db.registry().await;
    let census = load("ward-bed-census");
    let p = r.propose(&census, "NHS England", at(1)).await.unwrap();
    assert_eq!(p.version, 1);
    assert!(!p.report.is_blocked());
    let e = r
        .require_listed("ward-bed-census", at(1))
        .await
        .unwrap_err();
    assert!(refused(&e).contains("its status is proposed"), "{e}");

    let l = r
        .approve("ward-bed-census", dap(), "Automated census", vec![], at(2))
        .await
        .unwrap();
    assert_eq!(l.licence_number, "DAP0001");
    assert_eq!(
        l.expires_at,
        Utc.with_ymd_and_hms(2029, 11, 2, 10, 0, 0).unwrap()
    );
    let licensed = r.require_listed("ward-bed-census", at(3)).await.unwrap();
    assert_eq!(licensed.licence_number, "DAP0001");
    assert_eq!(licensed.def, census.def);

    let v = r.show("ward-bed-census", at(3)).await.unwrap();
    assert_eq!(v.status, "listed");
    let actions: Vec<&str> = v.decisions.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["propose", "list"]);
    let list = &v.decisions[1];
    assert_eq!(list.actor, dap());
    assert_eq!(list.reason, "Automated census");
    assert_eq!(list.licence_number.as_deref(), Some("DAP0001"));
    assert_eq!(list.findings.0.len(), p.report.findings.len());
    assert_eq!(
        v.versions[0].source_file.as_deref(),
        Some(census.path.to_str().unwrap())
    );
    assert_eq!(v.versions[0].sha256.len(), 64);

    let e = r.propose(&census, "NHS England", at(4)).await.unwrap_err();
    assert!(refused(&e).contains("already the same definition"), "{e}");
}

async fn licence_numbers_are_never_reused(db: &TestDb) {
    let r = db.registry().await;
    for name in ["ward-bed-census", "care-home-capacity"] {
        r.propose(&load(name), "sponsor", at(1)).await.unwrap();
    }
    assert_eq!(
        r.approve("ward-bed-census", dap(), "ok", vec![], at(1))
            .await
            .unwrap()
            .licence_number,
        "DAP0001"
    );
    // A pending new version goes with the retirement, and the log says so.
    let dir0 = tempfile::tempdir().unwrap();
    let pending = variant(
        dir0.path(),
        "ward-bed-census",
        &[("deadline = \"12h\"", "deadline = \"18h\"")],
    );
    r.propose(&pending, "sponsor", at(2)).await.unwrap();
    r.change(
        "ward-bed-census",
        StatusChange::Retire,
        dap(),
        "no longer needed",
        at(2),
    )
    .await
    .unwrap();
    let log = r.show("ward-bed-census", at(2)).await.unwrap().decisions;
    let last = log.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.version, last.reason.as_str()),
        ("withdraw", Some(2), "the collection was retired")
    );
    assert_eq!(
        r.approve("care-home-capacity", dap(), "ok", vec![], at(3))
            .await
            .unwrap()
            .licence_number,
        "DAP0002"
    );
    // Proposed again after retirement, it is a new licence with a new number.
    let dir = tempfile::tempdir().unwrap();
    let again = variant(
        dir.path(),
        "ward-bed-census",
        &[("licence_term_months = 36", "licence_term_months = 24")],
    );
    r.propose(&again, "sponsor", at(4)).await.unwrap();
    assert_eq!(
        r.show("ward-bed-census", at(4)).await.unwrap().status,
        "proposed"
    );
    // Its old licence number is not shown against the new proposal.
    let entry = r
        .register(at(4))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug == "ward-bed-census")
        .unwrap();
    assert_eq!(entry.licence_number, None);
    assert_eq!(
        r.approve("ward-bed-census", dap(), "ok", vec![], at(5))
            .await
            .unwrap()
            .licence_number,
        "DAP0003"
    );
}

async fn a_new_version_replaces_the_listed_one_only_when_listed(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("care-home-capacity"), "DHSC", at(1))
        .await
        .unwrap();
    r.approve("care-home-capacity", dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v2 = variant(
        dir.path(),
        "care-home-capacity",
        &[
            ("period = \"month\"", "period = \"week\""),
            ("cron = \"0 6 1 * *\"", "cron = \"0 6 * * 1\""),
        ],
    );
    let p = r.propose(&v2, "DHSC", at(2)).await.unwrap();
    assert_eq!(p.version, 2);
    let scope = p
        .report
        .findings
        .iter()
        .find(|f| f.rule == Rule::Scope)
        .unwrap();
    assert!(
        scope
            .message
            .contains("raises frequency from monthly to weekly"),
        "{}",
        scope.message
    );
    // Still version 1 in force while version 2 waits.
    let now = r.require_listed("care-home-capacity", at(3)).await.unwrap();
    assert_eq!(
        (now.version, now.def.frequency.period.as_str()),
        (1, "month")
    );
    let l = r
        .approve(
            "care-home-capacity",
            dap(),
            "weekly is needed this winter",
            vec![],
            at(4),
        )
        .await
        .unwrap();
    assert_eq!((l.version, l.licence_number.as_str()), (2, "DAP0001"));
    let now = r.require_listed("care-home-capacity", at(5)).await.unwrap();
    assert_eq!(now.version, 2);
    let statuses: Vec<String> = r
        .show("care-home-capacity", at(5))
        .await
        .unwrap()
        .versions
        .into_iter()
        .map(|v| v.status.to_string())
        .collect();
    assert_eq!(statuses, ["superseded", "listed"]);
}

async fn rejection_is_logged_and_leaves_nothing_licensed(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("kh03-manual"), "NHS England", at(1))
        .await
        .unwrap();
    let e = r
        .reject("kh03-manual", dap(), "  ", at(2))
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("a reason (--reason) is required"),
        "{e}"
    );
    r.reject("kh03-manual", dap(), "Derivable from the census", at(2))
        .await
        .unwrap();
    let e = r.require_listed("kh03-manual", at(3)).await.unwrap_err();
    assert_eq!(
        refused(&e),
        "kh03-manual is not a licensed collection: its status is rejected. Nothing is collected for it, and providers may ignore any request for it."
    );
    let v = r.show("kh03-manual", at(3)).await.unwrap();
    assert_eq!(v.status, "rejected");
    assert_eq!(
        v.decisions.last().unwrap().reason,
        "Derivable from the census"
    );
    let e = r
        .approve("kh03-manual", dap(), "changed my mind", vec![], at(4))
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("no proposal awaiting a decision"),
        "{e}"
    );
    let register = r.register(at(4)).await.unwrap();
    assert_eq!(
        register[0].reason.as_deref(),
        Some("Derivable from the census")
    );
    let e = r.require_listed("no-such-thing", at(4)).await.unwrap_err();
    assert!(refused(&e).contains("it is not on the DAP register"), "{e}");
}

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

async fn suspend_reinstate_and_retire(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("care-home-capacity"), "DHSC", at(1))
        .await
        .unwrap();
    let e = r
        .change(
            "care-home-capacity",
            StatusChange::Suspend,
            dap(),
            "x",
            at(1),
        )
        .await
        .unwrap_err();
    assert!(refused(&e).contains("is proposed, not listed"), "{e}");
    r.approve("care-home-capacity", dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    r.change(
        "care-home-capacity",
        StatusChange::Suspend,
        dap(),
        "supplier outage",
        at(2),
    )
    .await
    .unwrap();
    let e = r
        .require_listed("care-home-capacity", at(3))
        .await
        .unwrap_err();
    assert!(refused(&e).contains("suspended"), "{e}");
    // Suspended, it owes nothing but keeps its licence, so its burden still counts.
    assert_eq!(r.burden(at(3)).await.unwrap().collections.len(), 1);
    r.change(
        "care-home-capacity",
        StatusChange::Reinstate,
        dap(),
        "supplier back",
        at(4),
    )
    .await
    .unwrap();
    r.require_listed("care-home-capacity", at(5)).await.unwrap();
    r.change(
        "care-home-capacity",
        StatusChange::Retire,
        dap(),
        "replaced",
        at(6),
    )
    .await
    .unwrap();
    let e = r
        .change(
            "care-home-capacity",
            StatusChange::Retire,
            dap(),
            "again",
            at(7),
        )
        .await
        .unwrap_err();
    assert!(refused(&e).contains("cannot be retired"), "{e}");
    let actions: Vec<String> = r
        .show("care-home-capacity", at(7))
        .await
        .unwrap()
        .decisions
        .into_iter()
        .map(|d| d.action)
        .collect();
    assert_eq!(
        actions,
        ["propose", "list", "suspend", "reinstate", "retire"]
    );
    let e = r
        .change("nothing-here", StatusChange::Retire, dap(), "x", at(7))
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("no collection \"nothing-here\""),
        "{e}"
    );
}

async fn licences_expire_after_their_term(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("uec-sitrep-manual"), "NHS England", at(1))
        .await
        .unwrap();
    let l = r
        .approve("uec-sitrep-manual", dap(), "baseline", vec![], at(1))
        .await
        .unwrap();
    assert_eq!(
        l.expires_at,
        Utc.with_ymd_and_hms(2027, 11, 1, 10, 0, 0).unwrap()
    );
    r.require_listed("uec-sitrep-manual", l.expires_at - Duration::seconds(1))
        .await
        .unwrap();
    let e = r
        .require_listed("uec-sitrep-manual", l.expires_at)
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("its licence DAP0001 expired on 1 November 2027"),
        "{e}"
    );
    let after = l.expires_at + Duration::days(1);
    assert_eq!(
        r.show("uec-sitrep-manual", after).await.unwrap().status,
        "expired"
    );
    assert!(r.burden(after).await.unwrap().collections.is_empty());
}

async fn the_decision_log_is_append_only(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("kh03-manual"), "NHS England", at(1))
        .await
        .unwrap();
    let update = db
        .execute("UPDATE decisions SET reason = 'rewritten'")
        .await
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = db.execute("DELETE FROM decisions").await.unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    assert_eq!(
        r.show("kh03-manual", at(1)).await.unwrap().decisions.len(),
        1
    );
}

async fn a_newer_proposal_withdraws_the_pending_one(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("kh03-manual"), "NHS England", at(1))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v2 = variant(
        dir.path(),
        "kh03-manual",
        &[("licence_term_months = 36", "licence_term_months = 12")],
    );
    assert_eq!(
        r.propose(&v2, "NHS England", at(2)).await.unwrap().version,
        2
    );
    let v = r.show("kh03-manual", at(2)).await.unwrap();
    let statuses: Vec<&str> = v.versions.iter().map(|v| v.status.as_str()).collect();
    assert_eq!(statuses, ["withdrawn", "proposed"]);
    let actions: Vec<&str> = v.decisions.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["propose", "withdraw", "propose"]);
    assert_eq!(
        r.approve("kh03-manual", dap(), "ok", vec![], at(3))
            .await
            .unwrap()
            .version,
        2
    );
}

async fn providers_import_and_obligations_follow_open_dates(db: &TestDb) {
    let r = db.registry().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n\
         RXA,Ashford Hospitals NHS Trust,acute_trust,South East,NHS Kent ICB,Kent,,2026-11-10,RXC\n\
         RXB,Bramley Mental Health NHS Trust,mental_health_trust,London,,,,,\n\
         RXC,Castleton University Hospitals NHS Trust,acute_trust,South East,NHS Kent ICB,Kent,2026-11-10,,\n\
         1-101234567,Oak House,care_home,London,,Camden,,,\n",
    )
    .unwrap();
    let providers = read_csv(&csv).unwrap();
    assert_eq!(r.store().import_providers(&providers).await.unwrap(), 4);
    // Importing again updates in place.
    r.store().import_providers(&providers).await.unwrap();
    let mut sorted = providers.clone();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(r.store().providers().await.unwrap(), sorted);

    r.propose(&load("ward-bed-census"), "NHS England", at(1))
        .await
        .unwrap();
    r.approve("ward-bed-census", dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    let owing = |day| {
        let r = &r;
        async move {
            r.obligations(at(day))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.provider)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(owing(5).await, ["RXA", "RXB"]);
    assert_eq!(owing(20).await, ["RXB", "RXC"]);
    // A suspended collection is owed by nobody until it is reinstated.
    r.change(
        "ward-bed-census",
        StatusChange::Suspend,
        dap(),
        "outage",
        at(21),
    )
    .await
    .unwrap();
    assert!(owing(22).await.is_empty());
    r.change(
        "ward-bed-census",
        StatusChange::Reinstate,
        dap(),
        "back",
        at(23),
    )
    .await
    .unwrap();
    assert_eq!(owing(24).await, ["RXB", "RXC"]);
    // Burden counts the registered respondents, not the estimate, once there are any.
    let b = r.burden(at(20)).await.unwrap();
    assert_eq!(b.collections[0].respondents, 2);
    assert!((b.total_hours - 2.0 * 365.0 * 2.0 / 60.0).abs() < 1e-9);
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
    let history = r.burden_history(&b, at(5)).await.unwrap();
    let steps: Vec<f64> = history.iter().map(|h| h.1).collect();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!((steps[0] - baseline).abs() < 1e-9, "{history:?}");
    assert!((steps[1] - b.total_hours).abs() < 1e-9, "{history:?}");
    assert_eq!(history[2], (at(5).date_naive(), b.total_hours));
    assert!(history[0].0 < history[1].0 && history[1].0 < history[2].0);
    // Before anything was decided there is only the day asked about.
    assert_eq!(
        r.burden_history(
            &r.burden(at(1) - chrono::Duration::days(1)).await.unwrap(),
            at(1) - chrono::Duration::days(1)
        )
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

async fn a_new_version_of_a_suspended_collection_stays_suspended(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("care-home-capacity"), "DHSC", at(1))
        .await
        .unwrap();
    r.approve("care-home-capacity", dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    r.change(
        "care-home-capacity",
        StatusChange::Suspend,
        dap(),
        "supplier outage",
        at(2),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v2 = variant(
        dir.path(),
        "care-home-capacity",
        &[("deadline = \"5d\"", "deadline = \"7d\"")],
    );
    r.propose(&v2, "DHSC", at(3)).await.unwrap();
    let l = r
        .approve(
            "care-home-capacity",
            dap(),
            "longer deadline",
            vec![],
            at(4),
        )
        .await
        .unwrap();
    assert_eq!((l.version, l.licence_number.as_str()), (2, "DAP0001"));
    let e = r
        .require_listed("care-home-capacity", at(5))
        .await
        .unwrap_err();
    assert!(refused(&e).contains("its status is suspended"), "{e}");
    r.change(
        "care-home-capacity",
        StatusChange::Reinstate,
        dap(),
        "back",
        at(6),
    )
    .await
    .unwrap();
    assert_eq!(
        r.require_listed("care-home-capacity", at(7))
            .await
            .unwrap()
            .version,
        2
    );
}

async fn an_expired_licence_is_renewed_with_the_same_definition(db: &TestDb) {
    let r = db.registry().await;
    let sitrep = load("uec-sitrep-manual");
    r.propose(&sitrep, "NHS England", at(1)).await.unwrap();
    let first = r
        .approve("uec-sitrep-manual", dap(), "baseline", vec![], at(1))
        .await
        .unwrap();
    let later = first.expires_at + Duration::days(3);
    assert!(r.require_listed("uec-sitrep-manual", later).await.is_err());
    let p = r.propose(&sitrep, "NHS England", later).await.unwrap();
    assert_eq!(p.version, 2);
    let renewed = r
        .approve(
            "uec-sitrep-manual",
            dap(),
            "renewed for a year",
            vec![],
            later,
        )
        .await
        .unwrap();
    assert_eq!(renewed.licence_number, "DAP0001");
    assert!(
        r.require_listed("uec-sitrep-manual", later + Duration::days(1))
            .await
            .is_ok()
    );
}
