//! The provider directory and reporting rates.

use crate::common;

use axum::http::StatusCode;
use common::web::spawn;

#[tokio::test]
async fn the_directory_finds_providers_and_reporting_rates_count_who_reported() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let dhsc = t.sign_in(&t.tokens.dhsc).await;
    let found = t.page("/providers?q=ash", Some(&dap)).await.text();
    assert!(found.contains("Providers 1 to 2 of 2"), "{found}");
    assert!(
        found.contains("<a href=\"/providers/RXA\">Ashford Hospitals</a>")
            && found.contains("Ash Court"),
        "{found}"
    );
    let homes = t
        .page("/providers?kind=care_home&region=North+West", Some(&dap))
        .await
        .text();
    assert!(
        homes.contains("Providers 1 to 3 of 3")
            && homes.contains("Yew Gardens")
            && !homes.contains("Oak House"),
        "{homes}"
    );
    let closed = t.page("/providers?q=RXC", Some(&dap)).await.text();
    assert!(closed.contains("closed 1 May 2026"), "{closed}");
    // DHSC sees the list, but no provider's page.
    let list = t.page("/providers?q=ash", Some(&dhsc)).await.text();
    assert!(
        list.contains("Ashford Hospitals") && !list.contains("href=\"/providers/RXA\""),
        "{list}"
    );
    // A page far past the end is empty, not an overflow.
    for path in [
        "/providers?page=18446744073709551615",
        "/audit?page=9223372036854775807",
    ] {
        let far = t.page(path, Some(&dap)).await;
        assert_eq!(far.status, StatusCode::OK, "{path}");
        assert!(far.text().contains("matches."), "{path}: {}", far.text());
    }
    let rates = t.page("/providers/reporting", Some(&dap)).await;
    assert_eq!(rates.status, StatusCode::OK);
    let html = rates.text();
    for words in [
        "By collection and period",
        "Daily ward bed census",
        "By region",
        "Providers behind",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
}

#[tokio::test]
async fn badly_written_dates_are_refused_in_words_and_uk_dates_are_read() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let bad = t.page("/audit?from=31-02-2026", Some(&dap)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    assert!(
        bad.text()
            .contains("the from date must be a date like 31/03/2027, not &#34;31-02-2026&#34;"),
        "{}",
        bad.text()
    );
    // What a browser without a date field sends: a UK date.
    let uk = t
        .page("/audit?from=01/01/2020&to=31/12/2099", Some(&dap))
        .await;
    assert_eq!(uk.status, StatusCode::OK, "{}", uk.text());
    let budget = super::post(
        &t,
        "/dap/budget",
        "/dap/budget",
        &dap,
        &[
            ("target_date", "next spring"),
            ("goal", "10"),
            ("reason", "Target"),
        ],
    )
    .await;
    assert_eq!(
        budget.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        budget.text()
    );
    assert!(
        budget
            .text()
            .contains("the target date must be a date like 31/03/2027"),
        "{}",
        budget.text()
    );
    assert!(t.app.store().budget().await.unwrap().is_none());
}
