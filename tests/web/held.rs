//! Held figures where the provider meets them: its page shows each held version with the
//! figures and their baselines, and a button to confirm them; the API lists and confirms
//! them the same way; both are audited, and a stale or repeated confirmation is refused.

use crate::common;

use axum::http::{Method, StatusCode};
use chrono::NaiveDate;
use common::web::{csrf_field, spawn_at};
use common::world::{census, utc};
use serde_json::json;

#[tokio::test]
async fn a_provider_sees_its_held_figures_and_confirms_them_on_its_page_or_through_the_api() {
    // 2 July 2026, the morning after RXA sent 1 July with its adult ward at 0 occupied.
    let t = spawn_at(None, Some(utc("2026-07-02T10:00:00Z"))).await;
    let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let slip = census("RXA", day).replace(",20,18", ",20,0");
    t.world
        .land("ward-bed-census", "RXA", "2026-07-01", &slip, false)
        .await;

    // Through the API: the hold, its figure and baseline, and until when to answer.
    let a = t
        .api(
            Method::GET,
            "/api/v1/providers/RXA/holds",
            Some(&t.tokens.provider),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let holds = a.json();
    assert_eq!(holds.as_array().unwrap().len(), 1, "{holds}");
    let h = &holds[0];
    assert_eq!(h["collection"], "ward-bed-census");
    assert_eq!(
        (h["period"].as_str(), h["version"].as_i64()),
        (Some("2026-07-01"), Some(1))
    );
    assert_eq!(h["held"][0]["item"], "occupied_beds");
    assert_eq!(h["held"][0]["reason"], "zero");
    assert_eq!(h["held"][0]["median"], 16.5);
    assert!(h["confirmed_by"].is_null());
    // Its amendment window: 12 hours past the day, then 28 days.
    assert_eq!(h["closes"], "2026-07-30T11:00:00Z");

    // On its page, first of all, with a button to confirm and a way to correct.
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    let held = &html[html.find("<h2>Figures to confirm</h2>").expect("a section")..];
    let held = &held[..held[4..].find("<h2>").map_or(held.len(), |i| i + 4)];
    assert!(held.contains("Daily ward bed census, 2026-07-01"), "{held}");
    assert!(
        held.contains("occupied_beds is 0 for census_date=2026-07-01, site_code=RXA01, ward_code=W1, stay=overnight, bed_class=core"),
        "{held}"
    );
    assert!(held.contains("The figures are right"), "{held}");
    assert!(held.contains("href=\"#upload\""), "{held}");
    assert!(html.find("Figures to confirm") < html.find("Due this week"));
    // DAP sees the hold but is not offered the provider's button.
    let dap = t.sign_in(&t.tokens.dap).await;
    let theirs = t.page("/providers/RXA", Some(&dap)).await.text();
    assert!(theirs.contains("Figures to confirm"));
    assert!(!theirs.contains("The figures are right"));

    // A confirmation of another version, or by someone else, is refused.
    let stale = json!({"collection": "ward-bed-census", "period": "2026-07-01", "version": 2});
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/holds/confirmations",
            Some(&t.tokens.provider),
            Some(stale),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    let right = json!({"collection": "ward-bed-census", "period": "2026-07-01", "version": 1,
                       "note": "W1 closed for a deep clean"});
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/holds/confirmations",
            Some(&t.tokens.dap),
            Some(right.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    let control = json!({"collection": "ward-bed-census", "period": "2026-07-01", "version": 1,
                         "note": "bell\u{7}"});
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/holds/confirmations",
            Some(&t.tokens.provider),
            Some(control),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());

    // Confirmed on the page.
    let fields = [
        ("csrf", csrf_field(&html).as_str()),
        ("collection", "ward-bed-census"),
        ("period", "2026-07-01"),
        ("version", "1"),
        ("note", "W1 closed for a deep clean"),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = t
        .form("/providers/RXA/holds/confirm", Some(&me), &fields)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let page = a.text();
    assert!(
        page.contains("the held figures of ward-bed-census 2026-07-01 (version 1) are confirmed"),
        "{page}"
    );
    assert!(
        !page.contains("Figures to confirm"),
        "nothing is left to confirm"
    );
    // The API says who confirmed, and a second confirmation is refused.
    let all = t
        .api(
            Method::GET,
            "/api/v1/providers/RXA/holds?awaiting=false",
            Some(&t.tokens.provider),
            None,
        )
        .await
        .json();
    assert_eq!(all[0]["confirmed_by"], "Ashford ward clerk");
    assert_eq!(all[0]["note"], "W1 closed for a deep clean");
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/holds/confirmations",
            Some(&t.tokens.provider),
            Some(right),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    assert!(
        a.text()
            .contains("confirmed already, by Ashford ward clerk"),
        "{}",
        a.text()
    );

    // Each attempt is in the audit log.
    let audit = t
        .api(
            Method::GET,
            "/api/v1/audit?limit=50",
            Some(&t.tokens.dap),
            None,
        )
        .await
        .json();
    let confirms: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "confirm figures")
        .collect();
    assert!(
        confirms
            .iter()
            .any(|e| e["outcome"] == "done" && e["detail"] == "version 1: 1 figure confirmed"),
        "{confirms:#?}"
    );
    assert!(
        confirms.iter().filter(|e| e["outcome"] != "done").count() >= 3,
        "{confirms:#?}"
    );
}
