//! Sharing with integrated care systems: an ICS token is scoped to one ICB and reads only
//! its ICB's rows of the returns (its providers' and its own), from the API and the pages,
//! and nothing of providers' own pages.

use axum::http::{Method, StatusCode};
use tally::store::access::Role;

use crate::common::web::spawn;

#[tokio::test]
async fn an_ics_reads_only_its_own_icbs_rows_of_the_returns() {
    let t = spawn(None).await;
    let store = t.app.store().clone();
    let now = chrono::Utc::now();
    // Scoped to exactly one ICB that the provider register knows.
    for (scope, says) in [
        (vec![], "exactly one ICB"),
        (
            vec!["QMJ".to_string(), "QRV".to_string()],
            "exactly one ICB",
        ),
        (
            vec!["QXX".to_string()],
            "no provider in the provider register belongs to the ICB QXX",
        ),
    ] {
        let e = tally::web::auth::create(
            store.as_ref(),
            Role::Ics,
            &scope,
            "North Central London ICS",
            "admin",
            None,
            now,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains(says), "{scope:?}: {e}");
    }
    let (_, ics) = tally::web::auth::create(
        store.as_ref(),
        Role::Ics,
        &["QMJ".into()],
        "North Central London ICS",
        "admin",
        None,
        now,
    )
    .await
    .unwrap();

    // Every bundled return has ICB rows, so every one is shared.
    let list = t
        .api(Method::GET, "/api/v1/returns", Some(&ics), None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert_eq!(list.json().as_array().unwrap().len(), 3);

    // The CSV holds the ICB's own row and its trust's, and no one else's.
    let csv = t
        .api(
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv",
            Some(&ics),
            None,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    let text = csv.text();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("icb,London,QMJ,QMJ,"), "{text}");
    assert!(rows[1].starts_with("trust,London,QMJ,RXA,"), "{text}");
    // DHSC reads the whole return.
    let whole = t
        .api(
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv",
            Some(&t.tokens.dhsc),
            None,
        )
        .await;
    assert!(whole.text().contains(",RXB,") && whole.text().contains("england,"));

    // Its metadata and JSON say what it holds; the bundle holds the same rows.
    let meta = t
        .api(
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/metadata",
            Some(&ics),
            None,
        )
        .await;
    assert!(
        meta.text().contains("Only the rows of QMJ"),
        "{}",
        meta.text()
    );
    let json = t
        .api(
            Method::GET,
            "/api/v1/returns/care-home-occupancy/periods/2026-04/download?format=json",
            Some(&ics),
            None,
        )
        .await
        .json();
    assert!(json["scope"].as_str().unwrap().contains("QMJ"));
    let las: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["local_authority"].as_str().unwrap())
        .collect();
    assert_eq!(las, ["QMJ", "Camden"]);

    // A revision shows an ICS only the changed cells of its own rows: RXB (another ICB)
    // corrects a day, and the ICS reads why, but none of the changed figures.
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
    let fixed = crate::common::world::census("RXB", day).replace(",30,27", ",30,29");
    t.world
        .land("ward-bed-census", "RXB", "2026-04-10", &fixed, true)
        .await;
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let manifest = "/api/v1/returns/uec-daily-sitrep/periods/2026-04-10/manifest";
    let national = t
        .api(Method::GET, manifest, Some(&t.tokens.dhsc), None)
        .await
        .json();
    assert!(national["revision"]["cells_changed"].as_u64().unwrap() > 0);
    let own = t.api(Method::GET, manifest, Some(&ics), None).await.json();
    assert_eq!(own["revision"]["of"], 1);
    assert_eq!(own["revision"]["cells"], serde_json::json!([]), "{own}");
    assert_eq!(own["revision"]["cells_changed"], 0);
    let views = t
        .api(
            Method::GET,
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-10",
            Some(&ics),
            None,
        )
        .await
        .json();
    assert_eq!(views[0]["revision"]["cells"], serde_json::json!([]));
    // Nor do the files it downloads carry the national revision's cells.
    let json = t
        .api(
            Method::GET,
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-10/download?format=json",
            Some(&ics),
            None,
        )
        .await
        .json();
    assert_eq!(
        json["manifest"]["revision"]["cells"],
        serde_json::json!([]),
        "{json}"
    );
    assert_eq!(json["manifest"]["revision"]["cells_changed"], 0);

    // Providers' own pages and runs are not an ICS's: it speaks for no provider.
    let providers = t
        .api(Method::GET, "/api/v1/providers", Some(&ics), None)
        .await;
    assert_eq!(providers.json(), serde_json::json!([]));
    for path in [
        "/api/v1/providers/RXA/obligations",
        "/api/v1/runs?provider=RXA",
        "/api/v1/audit",
    ] {
        let a = t.api(Method::GET, path, Some(&ics), None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.text());
    }

    // The pages: /returns says whose rows, and its downloads are the same rows.
    let session = t.sign_in(&ics).await;
    let page = t.page("/returns", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("0 cells changed from version 1"),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("code=RXB"), "{}", page.text());
    assert!(
        page.text().contains("Only the rows of QMJ"),
        "{}",
        page.text()
    );
    let from_page = t
        .page(
            "/returns/kh03-quarterly/2026-27-Q1/download?format=csv",
            Some(&session),
        )
        .await;
    assert_eq!(from_page.text(), text);
    assert_eq!(
        t.page("/dap", Some(&session)).await.status,
        StatusCode::FORBIDDEN
    );
}
