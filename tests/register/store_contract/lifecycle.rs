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
