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
