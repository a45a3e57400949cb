//! Going live through the API: questions asked and answered, readiness for a coming
//! collection and the notification ledger, each for its role only.

use crate::common;

use axum::http::{Method, StatusCode};
use common::web::spawn_at;
use common::world::utc;
use tally::domain::finding::Override;

#[tokio::test]
async fn questions_readiness_and_notifications_are_served_to_their_roles() {
    let t = spawn_at(None, Some(utc("2026-07-10T10:00:00Z"))).await;
    let (dap, provider) = (
        Some(t.tokens.dap.as_str()),
        Some(t.tokens.provider.as_str()),
    );
    let ask = |collection: &str, question: &str| {
        Some(serde_json::json!({"collection": collection, "question": question}))
    };

    // A provider asks about a collection it owes; not about one it is not asked, nor in
    // too few words, nor for another provider.
    let path = "/api/v1/providers/RXA/questions";
    let a = t
        .api(
            Method::POST,
            path,
            provider,
            ask(
                "ward-bed-census",
                "Do escalation beds count when closed at midnight?",
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let id = a.json()["id"].as_i64().unwrap();
    let a = t
        .api(
            Method::POST,
            path,
            provider,
            ask("care-home-capacity", "Is this for us at all?"),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(
        a.text().contains("a collection you owe or that is coming"),
        "{}",
        a.text()
    );
    let a = t
        .api(Method::POST, path, provider, ask("ward-bed-census", "Why"))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXB/questions",
            provider,
            ask("ward-bed-census", "Asking for a neighbour, if I may."),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());

    // DAP reads every question and answers; a provider may not.
    assert_eq!(
        t.api(Method::GET, "/api/v1/questions", provider, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let all = t
        .api(Method::GET, "/api/v1/questions", dap, None)
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["provider"], "RXA");
    let answer = |publish: bool| {
        Some(
            serde_json::json!({"answer": "Count them as available only if staffed.", "publish": publish}),
        )
    };
    let to = format!("/api/v1/questions/{id}/answer");
    let a = t.api(Method::POST, &to, provider, answer(true)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    let a = t.api(Method::POST, &to, dap, answer(true)).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let a = t.api(Method::POST, &to, dap, answer(false)).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    let a = t
        .api(
            Method::POST,
            "/api/v1/questions/999/answer",
            dap,
            answer(false),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    // The provider reads the answer; published, it is the collection's FAQ.
    let mine = t.api(Method::GET, path, provider, None).await.json();
    assert_eq!(
        mine[0]["answer"],
        "Count them as available only if staffed."
    );
    assert_eq!(mine[0]["published"], true);
    assert_eq!(
        t.api(
            Method::GET,
            "/api/v1/providers/RXB/questions",
            provider,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let faq = t.page("/collections/ward-bed-census", None).await.text();
    assert!(faq.contains("Count them as available only if staffed."));

    // Readiness: the manual SitRep listed with notice is coming for the acute trusts.
    let r = &t.world.registry;
    let now = t.app.now();
    let pending = r
        .store()
        .versions("uec-sitrep-manual")
        .await
        .unwrap()
        .pop()
        .unwrap();
    let overrides = r
        .check(&pending.definition.0, now)
        .await
        .unwrap()
        .blocking()
        .map(|f| Override {
            rule: f.rule,
            reason: "Listed for the test.".into(),
        })
        .collect();
    r.approve("uec-sitrep-manual", common::dap(), "coming", overrides, now)
        .await
        .unwrap();
    assert_eq!(
        t.api(Method::GET, "/api/v1/readiness", provider, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let ready = t
        .api(Method::GET, "/api/v1/readiness", dap, None)
        .await
        .json();
    let sitrep = ready
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == "uec-sitrep-manual")
        .unwrap_or_else(|| panic!("{ready}"));
    assert_eq!(sitrep["effective_from"], "2026-09-04");
    // RXA and RXB will owe it (RXC has closed); neither has tried anything.
    assert_eq!(sitrep["nothing"], 2, "{sitrep}");

    // The notification ledger: DAP's, bounded.
    assert_eq!(
        t.api(Method::GET, "/api/v1/notifications", provider, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let a = t.api(Method::GET, "/api/v1/notifications", dap, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.json().is_array());
    let a = t
        .api(Method::GET, "/api/v1/notifications?limit=0", dap, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
}
