//! National returns licensed from DAP's pages: a changed query built and listed, and a new
//! return proposed instead of a collection.

use super::post;
use crate::common;

use axum::http::StatusCode;
use common::web::{csrf_field, spawn};

#[tokio::test]
async fn dap_sees_a_changed_query_build_and_lists_it_on_its_page() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let store = t.app.store().clone();
    let page = t.page("/dap", Some(&dap)).await.text();
    assert!(
        page.contains("No return&#39;s query is waiting for a decision")
            || page.contains("No return's query is waiting for a decision"),
        "{page}"
    );
    // The care-home occupancy query changes, as a new file in the queries folder would be.
    let v1 = store
        .query_versions(Some("care-home-occupancy"))
        .await
        .unwrap()
        .remove(0);
    let changed = v1.sql_text.replace("SELECT", "SELECT /* v2 */");
    store
        .propose_query(
            "care-home-occupancy",
            &changed,
            &v1.sidecar,
            "changed",
            "the queries folder",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let page = t.page("/dap", Some(&dap)).await.text();
    for words in [
        "Care-home occupancy by local authority",
        "care-home-occupancy, version 2",
        "Read from the queries folder on",
        "It would replace DAPR0001 version 1",
        "Built over 2026-",
        "SELECT /* v2 */",
    ] {
        assert!(page.contains(words), "{words}: {page}");
    }
    // The collection's page shows the licence and the SQL in force, not the proposal.
    let collection = t.page("/collections/care-home-capacity", None).await.text();
    assert!(
        collection.contains("care-home-occupancy: DAPR0001, version 1")
            && !collection.contains("/* v2 */"),
        "{collection}"
    );
    let listed = post(
        &t,
        "/dap",
        "/dap/returns",
        &dap,
        &[
            ("name", "care-home-occupancy"),
            ("version", "2"),
            ("action", "approve"),
            ("reason", "Reads the same figures more clearly"),
        ],
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert!(
        listed
            .text()
            .contains("Version 2 of the return care-home-occupancy is listed as DAPR0001"),
        "{}",
        listed.text()
    );
    let versions = store
        .query_versions(Some("care-home-occupancy"))
        .await
        .unwrap();
    assert_eq!(
        (versions[0].status.as_str(), versions[1].status.as_str()),
        ("superseded", "listed")
    );
    let collection = t.page("/collections/care-home-capacity", None).await.text();
    assert!(
        collection.contains("DAPR0001, version 2") && collection.contains("/* v2 */"),
        "{collection}"
    );
    // Twice is refused, and both are on the audit log.
    let again = post(
        &t,
        "/dap",
        "/dap/returns",
        &dap,
        &[
            ("name", "care-home-occupancy"),
            ("version", "2"),
            ("action", "approve"),
            ("reason", "again"),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let audit = t
        .page("/audit?action=license_query", Some(&dap))
        .await
        .text();
    assert!(audit.contains("Entries 1 to 2 of 2"), "{audit}");
}

const SIDECAR: &str = r#"title = "Beds by region"
inputs = ["ward-bed-census"]
expects = ["acute_trust"]
period = "day"

[[columns]]
name = "level"

[[columns]]
name = "region"

[[columns]]
name = "beds"
measure = "non_person"
"#;

const SQL: &str = "SELECT 'region' AS level, p.region, SUM(c.available_beds) AS beds
FROM ward_bed_census c JOIN providers p ON p.code = c.provider GROUP BY p.region
UNION ALL
SELECT 'england', 'England', SUM(available_beds) FROM ward_bed_census";

#[tokio::test]
async fn dap_proposes_a_new_return_on_its_page_and_once_listed_dhsc_is_offered_it() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let store = t.app.store().clone();
    let send = async |step: &str, sql: &str| {
        let csrf = csrf_field(&t.page("/dap/proposals/new", Some(&dap)).await.text());
        t.form(
            "/dap/proposals/return",
            Some(&dap),
            &[
                ("csrf", &csrf),
                ("step", step),
                ("name", "beds-by-region"),
                ("sidecar", SIDECAR),
                ("sql", sql),
            ],
        )
        .await
    };
    // A query that does not plan: said in words, and what was typed is kept.
    let broken = send(
        "check",
        &SQL.replace("SUM(c.available_beds)", "SUM(c.no_such_item)"),
    )
    .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.text()
    );
    assert!(
        broken.text().contains("The return does not load or build")
            && broken.text().contains("no_such_item"),
        "{}",
        broken.text()
    );
    // Checked: built over the last closed day, nothing recorded.
    let checked = send("check", SQL).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text());
    assert!(
        checked.text().contains("What Beds by region builds over")
            && checked.text().contains("A new return."),
        "{}",
        checked.text()
    );
    assert!(
        store
            .query_versions(Some("beds-by-region"))
            .await
            .unwrap()
            .is_empty()
    );
    // Proposed: it waits on /dap, and is listed there.
    let proposed = send("propose", SQL).await;
    assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.text());
    assert!(
        proposed.text().contains("beds-by-region, version 1"),
        "{}",
        proposed.text()
    );
    let again = send("propose", SQL).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let dhsc = t.sign_in(&t.tokens.dhsc).await;
    assert!(
        !t.page("/returns", Some(&dhsc))
            .await
            .text()
            .contains("Beds by region")
    );
    let listed = post(
        &t,
        "/dap",
        "/dap/returns",
        &dap,
        &[
            ("name", "beds-by-region"),
            ("version", "1"),
            ("action", "approve"),
            ("reason", "Derivable from the census: no new collection"),
        ],
    )
    .await;
    assert!(
        listed.text().contains("is listed as DAPR0004"),
        "{}",
        listed.text()
    );
    // DHSC is offered it, and the API lists it, though no file in the queries folder holds it.
    assert!(
        t.page("/returns", Some(&dhsc))
            .await
            .text()
            .contains("Beds by region")
    );
    let api = t
        .api(
            axum::http::Method::GET,
            "/api/v1/returns",
            Some(&t.tokens.dhsc),
            None,
        )
        .await;
    assert!(
        api.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "beds-by-region"),
        "{}",
        api.text()
    );
    let audit = t
        .page("/audit?action=propose_query", Some(&dap))
        .await
        .text();
    assert!(audit.contains("beds-by-region version 1"), "{audit}");
}
