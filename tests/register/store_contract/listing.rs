//! Proposals, decisions and licences: listing assigns a licence that is never reused, a
//! new version replaces the listed one only when listed, a rejection licenses nothing, a
//! newer proposal withdraws the pending one, and the decision log is append-only.

use crate::common::{TestDb, dap, load, variant};
use chrono::{TimeZone, Utc};

use tally::domain::finding::Rule;
use tally::registry::governance::StatusChange;

use super::{at, refused};

contract!(
    listing_assigns_a_licence_and_logs_each_decision,
    licence_numbers_are_never_reused,
    a_new_version_replaces_the_listed_one_only_when_listed,
    rejection_is_logged_and_leaves_nothing_licensed,
    a_newer_proposal_withdraws_the_pending_one,
    the_decision_log_is_append_only,
);

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
    // The file's name, never where it lay on the server: the register is public.
    assert_eq!(
        v.versions[0].source_file.as_deref(),
        Some("ward-bed-census.toml")
    );
    assert_eq!(v.decisions[0].reason, "proposed from ward-bed-census.toml");
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
    assert!(refused(&e).contains("a reason is required"), "{e}");
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
