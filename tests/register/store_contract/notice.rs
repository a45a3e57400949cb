//! Notice and the effective date: a collection is owed from the day DAP sets when it lists
//! it, by default the listing day plus its `notice_days`; a day sooner is blocked unless DAP
//! overrides the notice rule with a reason, which the register publishes. Before that day
//! the collection is coming: no obligation, no upload, no pull, no completeness.

use chrono::NaiveDate;
use tally::domain::finding::{Override, Rule};
use tally::domain::provider::Provider;
use tally::domain::{Period, RegistryError};

use super::{at, refused};
use crate::common::{TestDb, dap, load, variant};

contract!(
    a_listing_is_owed_after_its_notice_and_coming_before,
    an_effective_date_inside_the_notice_needs_an_override,
    a_new_version_keeps_the_day_its_licence_is_owed_from,
    a_coming_collection_s_day_can_be_moved_later_and_its_first_period_follows,
    nothing_is_taken_for_a_period_before_the_effective_date,
);

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn one_trust(r: &tally::registry::Registry) -> Provider {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "code,name,kind,region\nRXA,Ashford,acute_trust,London\n",
    )
    .unwrap();
    let providers = tally::providers::read_csv(&csv).unwrap();
    r.import_providers(&providers, crate::common::registered())
        .await
        .unwrap();
    providers.into_iter().next().unwrap()
}

async fn a_listing_is_owed_after_its_notice_and_coming_before(db: &TestDb) {
    let r = db.registry().await;
    let trust = one_trust(&r).await;
    r.propose(&load("ward-bed-census"), "NHS England", at(2))
        .await
        .unwrap();
    let l = r
        .approve("ward-bed-census", dap(), "Automated census", vec![], at(2))
        .await
        .unwrap();
    // 2 November plus the 56 days' notice every definition gets unless it says otherwise.
    assert_eq!(l.effective_from, day("2026-12-28"));
    let licensed = r.require_listed("ward-bed-census", at(3)).await.unwrap();
    assert_eq!(licensed.effective_from, day("2026-12-28"));
    assert!(!licensed.in_effect_on(day("2026-12-27")));

    // Listed, but nothing is owed yet: the trust sees it coming.
    assert!(
        r.obligations_of(Some("RXA"), at(3))
            .await
            .unwrap()
            .is_empty()
    );
    let coming = r.coming_for(&trust, at(3)).await.unwrap();
    assert_eq!(coming.len(), 1);
    assert_eq!(coming[0].def.slug.as_str(), "ward-bed-census");

    // From the effective date it is owed, and no longer coming.
    let then = chrono::DateTime::parse_from_rfc3339("2026-12-28T09:00:00Z")
        .unwrap()
        .to_utc();
    let owed = r.obligations_of(Some("RXA"), then).await.unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].owed_from, day("2026-12-28"));
    assert!(r.coming_for(&trust, then).await.unwrap().is_empty());

    // The register shows the day, for providers and DAP alike.
    let entry = r
        .register(at(3))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug == "ward-bed-census")
        .unwrap();
    assert_eq!(entry.effective_from, Some(day("2026-12-28")));
}

async fn an_effective_date_inside_the_notice_needs_an_override(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("ward-bed-census"), "NHS England", at(2))
        .await
        .unwrap();
    // Before the listing day: never.
    let e = r
        .approve_from(
            "ward-bed-census",
            dap(),
            "ok",
            vec![],
            Some(day("2026-11-01")),
            at(2),
        )
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("cannot be owed before it is listed"),
        "{e}"
    );
    // Inside the notice: blocked, naming the rule and the day notice would allow.
    let e = r
        .approve_from(
            "ward-bed-census",
            dap(),
            "ok",
            vec![],
            Some(day("2026-11-16")),
            at(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.downcast_ref(), Some(RegistryError::Blocked(_))),
        "{e}"
    );
    let text = refused(&e);
    assert!(text.contains("notice:"), "{text}");
    assert!(text.contains("56 days' notice"), "{text}");
    assert!(text.contains("28 December 2026"), "{text}");
    // An override with no reason is no override.
    let blank = Override {
        rule: Rule::Notice,
        reason: " ".into(),
    };
    assert!(
        r.approve_from(
            "ward-bed-census",
            dap(),
            "ok",
            vec![blank],
            Some(day("2026-11-16")),
            at(2)
        )
        .await
        .is_err()
    );
    let why = Override {
        rule: Rule::Notice,
        reason: "Winter pressures: the census replaces a form trusts already fill in daily.".into(),
    };
    let l = r
        .approve_from(
            "ward-bed-census",
            dap(),
            "ok",
            vec![why.clone()],
            Some(day("2026-11-16")),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(l.effective_from, day("2026-11-16"));
    // The override is public, with the finding it answered.
    let v = r.show("ward-bed-census", at(3)).await.unwrap();
    let list = v.decisions.last().unwrap();
    assert_eq!(list.overrides.0, vec![why.clone()]);
    assert!(
        list.findings
            .0
            .iter()
            .any(|f| f.rule == Rule::Notice && f.is_blocking())
    );
    let entry = r
        .register(at(3))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug == "ward-bed-census")
        .unwrap();
    assert!(entry.overrides.contains(&why));
    assert_eq!(entry.effective_from, Some(day("2026-11-16")));

    // An override where the notice is kept is refused: there is nothing to override.
    r.propose(&load("care-home-capacity"), "ADASS", at(3))
        .await
        .unwrap();
    let e = r
        .approve_from(
            "care-home-capacity",
            dap(),
            "ok",
            vec![why],
            Some(day("2027-02-01")),
            at(3),
        )
        .await
        .unwrap_err();
    assert!(refused(&e).contains("nothing under the notice rule"), "{e}");
}

async fn a_new_version_keeps_the_day_its_licence_is_owed_from(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("ward-bed-census"), "NHS England", at(2))
        .await
        .unwrap();
    r.approve("ward-bed-census", dap(), "ok", vec![], at(2))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v2 = variant(
        dir.path(),
        "ward-bed-census",
        &[("title = \"", "title = \"Revised: ")],
    );
    r.propose(&v2, "NHS England", at(4)).await.unwrap();
    let l = r
        .approve("ward-bed-census", dap(), "clearer title", vec![], at(4))
        .await
        .unwrap();
    assert_eq!(l.version, 2);
    assert_eq!(l.effective_from, day("2026-12-28"));
    let licensed = r.require_listed("ward-bed-census", at(5)).await.unwrap();
    assert_eq!(licensed.effective_from, day("2026-12-28"));

    // Once a licence is owed, a new version cannot move the day it was owed from.
    let later = chrono::DateTime::parse_from_rfc3339("2027-01-10T10:00:00Z")
        .unwrap()
        .to_utc();
    let v3 = variant(
        dir.path(),
        "ward-bed-census",
        &[("title = \"", "title = \"Third: ")],
    );
    r.propose(&v3, "NHS England", later).await.unwrap();
    let e = r
        .approve_from(
            "ward-bed-census",
            dap(),
            "ok",
            vec![],
            Some(day("2027-03-01")),
            later,
        )
        .await
        .unwrap_err();
    assert!(
        refused(&e).contains("has been owed since 28 December 2026"),
        "{e}"
    );
}

async fn nothing_is_taken_for_a_period_before_the_effective_date(db: &TestDb) {
    let r = db.registry().await;
    one_trust(&r).await;
    r.propose(&load("ward-bed-census"), "NHS England", at(2))
        .await
        .unwrap();
    r.approve_from(
        "ward-bed-census",
        dap(),
        "ok",
        vec![],
        Some(day("2027-01-04")),
        at(2),
    )
    .await
    .unwrap();
    // A day before the effective date, asked for after it: refused, saying from when.
    let now = chrono::DateTime::parse_from_rfc3339("2027-01-06T10:00:00Z")
        .unwrap()
        .to_utc();
    let e = tally::schedule::request::by_hand(&r, "ward-bed-census", "RXA", "2027-01-03", now)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("owed from 4 January 2027"), "{e}");
    // The effective day itself is owed.
    let key = tally::schedule::request::by_hand(&r, "ward-bed-census", "RXA", "2027-01-04", now)
        .await
        .unwrap();
    assert_eq!(key.period, Period::parse("2027-01-04").unwrap());
}

async fn a_coming_collection_s_day_can_be_moved_later_and_its_first_period_follows(db: &TestDb) {
    let r = db.registry().await;
    r.propose(&load("care-home-capacity"), "ADASS", at(2))
        .await
        .unwrap();
    // Monthly, owed from the default 28 December: December began before it, so January is
    // the first period owed.
    let l = r
        .approve("care-home-capacity", dap(), "ok", vec![], at(2))
        .await
        .unwrap();
    assert_eq!(l.effective_from, day("2026-12-28"));
    let licensed = r.require_listed("care-home-capacity", at(3)).await.unwrap();
    assert_eq!(licensed.first_period().to_string(), "2027-01");
    // While it is still coming, DAP gives providers longer with a new version: the later
    // day is the one in force, everywhere.
    let dir = tempfile::tempdir().unwrap();
    let v2 = variant(
        dir.path(),
        "care-home-capacity",
        &[("title = \"", "title = \"Revised: ")],
    );
    r.propose(&v2, "ADASS", at(4)).await.unwrap();
    r.approve_from(
        "care-home-capacity",
        dap(),
        "more time",
        vec![],
        Some(day("2027-04-01")),
        at(4),
    )
    .await
    .unwrap();
    let licensed = r.require_listed("care-home-capacity", at(5)).await.unwrap();
    assert_eq!(licensed.effective_from, day("2027-04-01"));
    assert_eq!(licensed.first_period().to_string(), "2027-04");
    let shown = r.show("care-home-capacity", at(5)).await.unwrap();
    assert_eq!(shown.effective_from, Some(day("2027-04-01")));
}
