//! Decisions and the budget through the API: checked, logged and keeping text as given; the
//! budget refuses figures no plan could have.

use crate::common;
use crate::common::web::spawn;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn decisions_through_the_api_are_checked_logged_and_keep_text_as_given() {
    let t = spawn(None).await;
    let dap = Some(t.tokens.dap.as_str());
    // Blocked by the derivable finding without an override: 409, nothing listed.
    let a = t
        .api(
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            dap,
            Some(json!({"action": "approve", "reason": "Needed"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    assert_eq!(a.code(), "blocked");
    // No reason: 422. Unknown field: 422 from the JSON extractor.
    let a = t
        .api(
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            dap,
            Some(json!({"action": "reject", "reason": "  "})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    let a = t
        .api(
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            dap,
            Some(json!({"action": "reject", "reason": "x", "by": "someone else"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    // SQL metacharacters in a reason are kept as text, not run.
    let reason = "Robert'); DROP TABLE collections; -- \"quoted\" % _";
    let a = t
        .api(
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            dap,
            Some(json!({"action": "reject", "reason": reason})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["status"], "rejected");
    let view = t
        .api(
            Method::GET,
            "/api/v1/collections/uec-sitrep-manual",
            dap,
            None,
        )
        .await
        .json();
    let last = view["decisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["reason"], reason);
    assert_eq!(last["actor"], common::dap());
    // Slugs that are not slugs are not found, whatever they hold.
    for slug in ["..%2F..%2Fetc", "x'%20OR%201=1", "WARD-BED-CENSUS"] {
        let a = t
            .api(
                Method::GET,
                &format!("/api/v1/collections/{slug}"),
                dap,
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{slug}: {}", a.text());
    }
    let log = t.app.store().audit_log(100).await.unwrap();
    let decisions: Vec<_> = log
        .iter()
        .filter(|e| e.target == "uec-sitrep-manual")
        .collect();
    assert_eq!(
        decisions.iter().filter(|e| e.outcome == "refused").count(),
        2,
        "{decisions:#?}"
    );
    assert_eq!(decisions.iter().filter(|e| e.outcome == "done").count(), 1);
}

/// The budget takes figures a plan could have: not 1e308 hours, not the year 262142.
#[tokio::test]
async fn the_budget_refuses_figures_no_plan_could_have() {
    let t = spawn(None).await;
    for body in [
        json!({"cap_hours": 1e308, "reason": "typo"}),
        json!({"goal_hours": 10.0, "target_date": "+262142-01-01", "reason": "typo"}),
        json!({"baseline_date": "1066-10-14", "reason": "typo"}),
    ] {
        let a = t
            .api(
                Method::PUT,
                "/api/v1/burden/budget",
                Some(&t.tokens.dap),
                Some(body.clone()),
            )
            .await;
        assert!(
            matches!(
                a.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST
            ),
            "{body}: {} {}",
            a.status,
            a.text()
        );
    }
    assert!(
        t.app.store().budget().await.unwrap().is_none(),
        "nothing was set"
    );
}
