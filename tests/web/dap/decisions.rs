//! Proposing, deciding, renewing, changing a collection's status and licensing a query.

use super::{post, proposal, propose_form};
use crate::common;

use axum::http::StatusCode;
use common::web::{csrf_field, spawn};

#[tokio::test]
async fn dap_sets_a_cap_proposes_checks_first_and_lists_over_a_refusal_with_an_override() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let store = t.app.store().clone();

    // The budget: a refusal keeps what was typed, and says why in words. The cap set is
    // below what the register already asks, so any new collection is blocked by it.
    let bad = post(
        &t,
        "/dap/budget",
        "/dap/budget",
        &dap,
        &[("cap", "lots"), ("reason", "Spending review")],
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.text()
    );
    let html = bad.text();
    assert!(
        html.contains("the cap must be a number of hours a year"),
        "{html}"
    );
    assert!(
        html.contains("value=\"lots\"") && html.contains("Spending review"),
        "{html}"
    );
    assert!(store.budget().await.unwrap().is_none());
    let set = post(
        &t,
        "/dap/budget",
        "/dap/budget",
        &dap,
        &[("cap", "100"), ("reason", "Spending review")],
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    assert_eq!(
        store.budget().await.unwrap().unwrap().cap_hours,
        Some(100.0)
    );
    let page = t.page("/dap/budget", Some(&dap)).await.text();
    assert!(page.contains("value=\"100\""), "{page}");
    // The cap is drawn as a dashed line in NHS red.
    assert!(
        page.contains("stroke=\"#D5281B\""),
        "the chart draws the cap: {page}"
    );

    // Checking records nothing, and shows what blocks it.
    let text = proposal("discharge-readiness-survey");
    let checked = propose_form(&t, &dap, "check", &text).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text());
    let html = checked.text();
    assert!(
        html.contains("What the checks find for Daily survey of patients ready for discharge"),
        "{html}"
    );
    assert!(
        html.contains("rule-budget") && html.contains("Nothing has been recorded yet"),
        "{html}"
    );
    assert!(
        store
            .collection("discharge-readiness-survey")
            .await
            .unwrap()
            .is_none()
    );
    // What was pasted is still in the box, to propose as it is.
    assert!(
        html.contains("slug = &#34;discharge-readiness-survey&#34;")
            || html.contains("slug = \"discharge-readiness-survey\""),
        "{html}"
    );

    // A definition that does not load: every problem, in words, and the text kept.
    let broken = text.replace("legal_basis = ", "legal_basiss = ");
    let refused = propose_form(&t, &dap, "check", &broken).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text().contains("The definition does not load"),
        "{}",
        refused.text()
    );
    assert!(refused.text().contains("legal_basis"), "{}", refused.text());

    // Proposed: it waits on /dap with its findings.
    let proposed = propose_form(&t, &dap, "propose", &text).await;
    assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.text());
    assert!(
        proposed
            .text()
            .contains("discharge-readiness-survey version 1 is proposed, and a check blocks it"),
        "{}",
        proposed.text()
    );
    let log = store
        .decisions(Some("discharge-readiness-survey"))
        .await
        .unwrap();
    assert_eq!(
        log[0].reason,
        "proposed from discharge-readiness-survey.toml (proposed on DAP's pages)"
    );
    // The same again is refused, with the text kept.
    let again = propose_form(&t, &dap, "propose", &text).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.text().contains("It was not proposed")
            && again.text().contains("discharge-readiness-survey")
    );

    // Listing without an override is refused in words, and what was typed stays.
    let page = t.page("/dap", Some(&dap)).await.text();
    assert!(page.contains("name=\"override-budget\""), "{page}");
    let refused = post(
        &t,
        "/dap",
        "/dap/decisions",
        &dap,
        &[
            ("slug", "discharge-readiness-survey"),
            ("action", "approve"),
            ("reason", "Ministers asked for it"),
            ("override-budget", "  "),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    let html = refused.text();
    assert!(
        html.contains("was not recorded, and what you typed is kept below"),
        "{html}"
    );
    assert!(
        !html.contains("--override"),
        "a page speaks of fields, not flags: {html}"
    );
    assert!(
        html.contains(">Ministers asked for it</textarea>"),
        "{html}"
    );
    let listed = post(
        &t,
        "/dap",
        "/dap/decisions",
        &dap,
        &[
            ("slug", "discharge-readiness-survey"),
            ("action", "approve"),
            ("reason", "Ministers asked for it"),
            (
                "override-budget",
                "Winter pressures; two manual returns retire in April",
            ),
        ],
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert!(
        listed
            .text()
            .contains("discharge-readiness-survey is now listed as DAP"),
        "{}",
        listed.text()
    );
    let log = store
        .decisions(Some("discharge-readiness-survey"))
        .await
        .unwrap();
    let list = log.last().unwrap();
    assert_eq!(
        list.overrides.0[0].reason,
        "Winter pressures; two manual returns retire in April"
    );

    // Rejecting is asked twice: the first post changes nothing.
    let ask = post(
        &t,
        "/dap",
        "/dap/decisions",
        &dap,
        &[
            ("slug", "uec-sitrep-manual"),
            ("action", "reject"),
            ("reason", "Derivable from the census"),
        ],
    )
    .await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(
        ask.text().contains("Reject the proposal for"),
        "{}",
        ask.text()
    );
    assert_eq!(
        store
            .collection("uec-sitrep-manual")
            .await
            .unwrap()
            .unwrap()
            .status,
        "proposed"
    );
    let csrf = csrf_field(&ask.text());
    let done = t
        .form(
            "/dap/decisions",
            Some(&dap),
            &[
                ("csrf", &csrf),
                ("slug", "uec-sitrep-manual"),
                ("action", "reject"),
                ("reason", "Derivable from the census"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert!(
        done.text().contains("uec-sitrep-manual is now rejected"),
        "{}",
        done.text()
    );

    // Every step is on the audit log, which filters by who, what and outcome.
    let audit = t
        .page("/audit?action=approve&outcome=refused", Some(&dap))
        .await
        .text();
    assert!(
        audit.contains("Entries 1 to 1 of 1") && audit.contains("discharge-readiness-survey"),
        "{audit}"
    );
    let audit = t.page("/audit?action=set_budget", Some(&dap)).await.text();
    assert!(audit.contains("Entries 1 to 2 of 2"), "{audit}");
}

#[tokio::test]
async fn dap_suspends_reinstates_and_retires_from_the_collection_page_which_shows_the_definition() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let store = t.app.store().clone();
    let status = async || {
        store
            .collection("care-home-capacity")
            .await
            .unwrap()
            .unwrap()
            .status
    };
    let path = "/collections/care-home-capacity";
    let public = t.page(path, None).await.text();
    // The definition in full, as a provider's analyst needs it, in UK time.
    for words in [
        "Care home capacity and occupancy",
        "max_capacity",
        "0 to 400",
        "care_home.beds.capacity",
        "5 days after the period ends",
        "30 days after the deadline",
        "Europe/London time",
        "The next pulls, in UK time",
        "care homes",
    ] {
        assert!(
            public.contains(words),
            "the collection page lacks {words:?}: {public}"
        );
    }
    assert!(public.contains("GMT") || public.contains("BST"), "{public}");
    assert!(
        !public.contains("Change its status"),
        "only DAP sees the status form"
    );

    let page = t.page(path, Some(&dap)).await.text();
    assert!(
        page.contains("Suspend it") && page.contains("Retire it"),
        "{page}"
    );
    // No reason: nothing changes, and the page says so.
    let bare = post(
        &t,
        path,
        &format!("{path}/decisions"),
        &dap,
        &[("action", "suspend"), ("reason", " ")],
    )
    .await;
    assert_eq!(
        bare.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bare.text()
    );
    assert!(
        bare.text()
            .contains("Nothing was changed: a reason is required"),
        "{}",
        bare.text()
    );
    assert_eq!(status().await, "listed");
    let s = post(
        &t,
        path,
        &format!("{path}/decisions"),
        &dap,
        &[("action", "suspend"), ("reason", "Supplier outage")],
    )
    .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text());
    assert_eq!(status().await, "suspended");
    assert!(s.text().contains("Reinstate it"));
    post(
        &t,
        path,
        &format!("{path}/decisions"),
        &dap,
        &[("action", "reinstate"), ("reason", "Supplier fixed")],
    )
    .await;
    assert_eq!(status().await, "listed");
    // Retiring is asked twice.
    let ask = post(
        &t,
        path,
        &format!("{path}/decisions"),
        &dap,
        &[
            ("action", "retire"),
            ("reason", "Replaced by the capacity tracker"),
        ],
    )
    .await;
    assert!(
        ask.text()
            .contains("Retire Care home capacity and occupancy?"),
        "{}",
        ask.text()
    );
    assert_eq!(status().await, "listed");
    let csrf = csrf_field(&ask.text());
    let retired = t
        .form(
            &format!("{path}/decisions"),
            Some(&dap),
            &[
                ("csrf", &csrf),
                ("action", "retire"),
                ("reason", "Replaced by the capacity tracker"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.text());
    assert_eq!(status().await, "retired");
}

#[tokio::test]
async fn a_licence_that_runs_out_within_90_days_is_renewed_for_a_new_term_after_the_checks() {
    // The world's collections were listed on 1 March 2026 for 36 months.
    let t = common::web::spawn_at(None, Some(common::world::utc("2029-01-15T10:00:00Z"))).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let page = t.page("/dap", Some(&dap)).await.text();
    assert!(
        page.contains("Licences that run out within 90 days")
            && page.contains("Renew Daily ward bed census")
            && page.contains("1 March 2029"),
        "{page}"
    );
    let renewed = post(
        &t,
        "/dap",
        "/dap/renewals",
        &dap,
        &[("slug", "ward-bed-census")],
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    assert!(
        renewed
            .text()
            .contains("Version 2 of ward-bed-census is proposed for a new term"),
        "{}",
        renewed.text()
    );
    assert!(renewed.text().contains("Waiting for a decision above"));
    // Twice is refused: the same definition is already pending.
    let again = post(
        &t,
        "/dap",
        "/dap/renewals",
        &dap,
        &[("slug", "ward-bed-census")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    // An "Owed from" day that is not a date: said on the page, nothing recorded, and what
    // was typed kept.
    let bad_day = post(
        &t,
        "/dap",
        "/dap/decisions",
        &dap,
        &[
            ("slug", "uec-sitrep-manual"),
            ("action", "approve"),
            ("reason", "Until the census replaces it"),
            ("effective_from", "next Tuesday"),
        ],
    )
    .await;
    assert_eq!(
        bad_day.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_day.text()
    );
    let page = bad_day.text();
    assert!(
        page.contains(
            "the effective date must be a date like 31/03/2027, not &#34;next Tuesday&#34;"
        ),
        "{page}"
    );
    assert!(
        page.contains(">Until the census replaces it</textarea>"),
        "{page}"
    );
    assert!(page.contains("value=\"next Tuesday\""), "{page}");
    let sitrep = t.app.store().versions("uec-sitrep-manual").await.unwrap();
    assert_eq!(sitrep.last().unwrap().status.as_str(), "proposed");
    let listed = post(
        &t,
        "/dap",
        "/dap/decisions",
        &dap,
        &[
            ("slug", "ward-bed-census"),
            ("action", "approve"),
            ("reason", "Still the source of the SitRep and KH03"),
        ],
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let versions = t.app.store().versions("ward-bed-census").await.unwrap();
    let new = versions.last().unwrap();
    assert_eq!((new.version, new.status.as_str()), (2, "listed"));
    assert_eq!(
        new.expires_at.unwrap().date_naive().to_string(),
        "2032-01-15",
        "a new 36-month term from the renewal"
    );
    // Its licence number stays.
    let row = t
        .app
        .store()
        .collection("ward-bed-census")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.licence_number.as_deref(), Some("DAP0001"));

    // Far from its end, a licence is not renewed.
    let early = spawn(None).await;
    let dap = early.sign_in(&early.tokens.dap).await;
    let refused = post(
        &early,
        "/dap",
        "/dap/renewals",
        &dap,
        &[("slug", "care-home-capacity")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused
            .text()
            .contains("can be renewed from 90 days before then"),
        "{}",
        refused.text()
    );
}
