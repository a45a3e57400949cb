//! A listed collection's life: suspended, reinstated and retired; licences that expire after
//! their term and are renewed; a new version of a suspended collection stays suspended.

use crate::common::{TestDb, dap, load, variant};
use chrono::{Duration, TimeZone, Utc};

use tally::registry::governance::StatusChange;

use super::{at, refused};

contract!(
    suspend_reinstate_and_retire,
    licences_expire_after_their_term,
    a_new_version_of_a_suspended_collection_stays_suspended,
    an_expired_licence_is_renewed_with_the_same_definition,
    another_instance_sees_each_decision_at_once,
);

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
        .map(|d| d.action.to_string())
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

/// Each instance keeps what it read of the register until the register changes; a decision
/// made by another instance on the same database is a change, seen by the next question.
async fn another_instance_sees_each_decision_at_once(db: &TestDb) {
    let deciding = db.registry().await;
    let pulling = db.registry().await;
    let slug = "care-home-capacity";
    assert!(pulling.licensed(at(1)).await.unwrap().is_empty());
    deciding.propose(&load(slug), "DHSC", at(1)).await.unwrap();
    deciding
        .approve(slug, dap(), "ok", vec![], at(1))
        .await
        .unwrap();
    let listed = pulling.licensed(at(2)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 1);
    // Asked again with nothing changed: the same answer.
    assert_eq!(pulling.licensed(at(2)).await.unwrap().len(), 1);

    deciding
        .change(slug, StatusChange::Suspend, dap(), "pause", at(2))
        .await
        .unwrap();
    assert!(pulling.licensed(at(3)).await.unwrap().is_empty());
    let e = pulling.require_listed(slug, at(3)).await.unwrap_err();
    assert!(e.to_string().contains("its status is suspended"), "{e}");

    deciding
        .change(slug, StatusChange::Reinstate, dap(), "back", at(3))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let revised = variant(
        dir.path(),
        slug,
        &[(
            "title = \"Care home capacity and occupancy\"",
            "title = \"Care home capacity and occupancy (revised)\"",
        )],
    );
    deciding.propose(&revised, "DHSC", at(4)).await.unwrap();
    deciding
        .approve(slug, dap(), "ok", vec![], at(4))
        .await
        .unwrap();
    let now = pulling.require_listed(slug, at(5)).await.unwrap();
    assert_eq!(now.version, 2);
    assert!(now.def.title.ends_with("(revised)"), "{}", now.def.title);
    // The licence began with the first version and keeps its day.
    assert_eq!(now.listed_at, at(1));
    let shown = pulling.show(slug, at(5)).await.unwrap();
    assert_eq!(shown.versions.len(), 2);
    assert_eq!(
        pulling.rows().await.unwrap().revision(),
        deciding.store().revision().await.unwrap()
    );
}
