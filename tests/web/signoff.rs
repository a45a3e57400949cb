//! Sign-off where the provider meets it: its page lists the pulled periods awaiting its
//! sign-off with their deadlines and a button each, and lets it give and revoke a standing
//! sign-off in the name it signed in with; the API does the same; DAP sees without buttons.

use crate::common;

use axum::http::{Method, StatusCode};
use chrono::NaiveDate;
use common::web::{csrf_field, spawn_at};
use common::world::{census, utc};
use serde_json::json;

/// The page's section under `heading`, up to the next `<h2>`.
fn section<'a>(html: &'a str, heading: &str) -> &'a str {
    let from = html
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} in {html}"));
    let rest = &html[from..];
    &rest[..rest[4..].find("<h2").map_or(rest.len(), |i| i + 4)]
}

#[tokio::test]
async fn a_provider_signs_off_pulled_periods_on_its_page_and_through_the_api() {
    // 2 July 2026, the morning after RXA's source gave 1 July.
    let t = spawn_at(None, Some(utc("2026-07-02T10:00:00Z"))).await;
    let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    t.world
        .land(
            "ward-bed-census",
            "RXA",
            "2026-07-01",
            &census("RXA", day),
            false,
        )
        .await;

    let a = t
        .api(
            Method::GET,
            "/api/v1/providers/RXA/signoffs",
            Some(&t.tokens.provider),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let s = a.json();
    let july = s["awaiting"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["period"] == "2026-07-01")
        .expect("1 July awaits sign-off")
        .clone();
    assert_eq!(july["deadline"], "2026-07-02T11:00:00Z");
    assert_eq!(july["version"], 1);
    assert_eq!(s["standing"], json!([]));

    // On the page: the day, its deadline, and a button; DAP sees it with no button.
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    let awaiting = section(&html, "<h2>Pulled periods to sign off</h2>");
    assert!(awaiting.contains("2026-07-01"), "{awaiting}");
    assert!(
        awaiting
            .contains("Sign off<span class=\"visually-hidden\"> Daily ward bed census, 2026-07-01"),
        "{awaiting}"
    );
    let standing = section(&html, "<h2 id=\"signoff\">Standing sign-off</h2>");
    assert!(
        standing.contains("No standing sign-off is in force."),
        "{standing}"
    );
    assert!(standing.contains("Give it in my name"), "{standing}");
    let dap = t.sign_in(&t.tokens.dap).await;
    let theirs = t.page("/providers/RXA", Some(&dap)).await.text();
    assert!(section(&theirs, "<h2>Pulled periods to sign off</h2>").contains("awaiting"));
    assert!(!theirs.contains("Give it in my name"));

    // Signed off on the page, in the signed-in name; then gone from the list.
    let csrf = csrf_field(&html);
    let fields = [
        ("csrf", csrf.as_str()),
        ("collection", "ward-bed-census"),
        ("period", "2026-07-01"),
        ("version", "1"),
    ];
    let a = t
        .form("/providers/RXA/signoffs/period", Some(&me), &fields)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let page = a.text();
    assert!(
        page.contains(
            "Signed off: ward-bed-census 2026-07-01 (version 1), in your name, Ashford ward clerk."
        ),
        "{page}"
    );
    assert!(
        !section(&page, "<h2>Pulled periods to sign off</h2>").contains("<td>2026-07-01 <span"),
        "signed off, so no longer listed"
    );
    // Twice is refused, and said on the page.
    let a = t
        .form("/providers/RXA/signoffs/period", Some(&me), &fields)
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.text().contains("Nothing was signed off: version 1 of ward-bed-census 2026-07-01 was signed off already, by Ashford ward clerk."), "{}", a.text());

    // The rest at once: every period the page listed, each audited as one.
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    let items = html
        .split("name=\"items\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-off-all form")
        .to_owned();
    let listed = items.split(';').count();
    assert!(listed > 1, "{items}");
    assert!(!items.contains("2026-07-01"), "signed off already: {items}");
    let all = [("csrf", csrf.as_str()), ("items", items.as_str())];
    let a = t.form("/providers/RXA/signoffs/all", Some(&me), &all).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let page = a.text();
    assert!(
        page.contains(&format!(
            "Signed off {listed} periods in your name, Ashford ward clerk."
        )),
        "{page}"
    );
    assert!(
        !page.contains("<h2>Pulled periods to sign off</h2>"),
        "nothing is left"
    );
    // Pressed again from the old page: each is refused as signed off already.
    let a = t.form("/providers/RXA/signoffs/all", Some(&me), &all).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.text().contains("Signed off 0 periods") && a.text().contains("signed off already"));

    // A standing sign-off from the page, with a day that is not one refused first.
    let give = |from: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("collection", "ward-bed-census".to_owned()),
            ("from", from.to_owned()),
        ]
    };
    let bad = give("1 July");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = t
        .form("/providers/RXA/signoffs/standing", Some(&me), &bad)
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.text()
            .contains("the first day must be a date like 2026-12-01"),
        "{}",
        a.text()
    );
    let good = give("2026-07-02");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = t
        .form("/providers/RXA/signoffs/standing", Some(&me), &good)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let page = a.text();
    assert!(page.contains("Standing sign-off given: every period of ward-bed-census that starts on or after 2 July 2026, those already pulled from your source among them, is signed off in your name, Ashford ward clerk"), "{page}");
    let standing = section(&page, "<h2 id=\"signoff\">Standing sign-off</h2>");
    assert!(
        standing.contains("2 July 2026") && standing.contains("Ashford ward clerk"),
        "{standing}"
    );
    assert!(standing.contains("Revoke"), "{standing}");

    // Through the API: a second is refused; revoked once; then none is in force.
    let body = json!({"collection": "ward-bed-census"});
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/signoffs/standing",
            Some(&t.tokens.provider),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/signoffs/revocations",
            Some(&t.tokens.provider),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["revoked_by"], "Ashford ward clerk");
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXA/signoffs/revocations",
            Some(&t.tokens.provider),
            Some(body),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    assert!(
        section(&html, "<h2 id=\"signoff\">Standing sign-off</h2>")
            .contains("Revoked: Daily ward bed census from 2 July 2026")
    );

    // Each is in the audit log.
    let log = t
        .api(Method::GET, "/api/v1/audit", Some(&t.tokens.dap), None)
        .await
        .text();
    for action in [
        "sign off period",
        "give standing sign-off",
        "revoke standing sign-off",
    ] {
        assert!(log.contains(action), "{action} in {log}");
    }
}
