//! Tokens refused: revoked, expired and forged tokens get 401 and are logged, and a flood of
//! bad tokens is slowed without filling the audit log.

use crate::common::web::spawn;
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn revoked_expired_and_forged_tokens_get_401_and_are_logged() {
    let t = spawn(None).await;
    for (token, words) in [
        (t.tokens.revoked.as_str(), "revoked"),
        (t.tokens.expired.as_str(), "expired"),
        (
            "tly_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
            "not known",
        ),
        ("Bearer-nonsense", "not a Tally token"),
    ] {
        let a = t
            .api(Method::GET, "/api/v1/collections", Some(token), None)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(a.code(), "unauthorized");
        assert!(
            a.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{}",
            a.text()
        );
    }
    // A token whose secret is changed is refused even though its id is real.
    let mut forged = t.tokens.dap.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        t.api(Method::GET, "/api/v1/burden", Some(&forged), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let log = t.app.store().audit_log(100).await.unwrap();
    let refused = log
        .iter()
        .filter(|e| e.action == "authenticate" && e.outcome == "refused")
        .count();
    assert_eq!(refused, 5, "{log:#?}");
    // The audit log never holds a token.
    let all = format!("{log:?}");
    for tok in [&t.tokens.revoked, &t.tokens.expired, &t.tokens.dap] {
        assert!(
            !all.contains(&tok[17..]),
            "a token's secret reached the audit log"
        );
    }
}

#[tokio::test]
async fn a_flood_of_bad_tokens_is_slowed_and_does_not_fill_the_audit_log() {
    let t = spawn(None).await;
    let bad = "tly_000000000000_0000000000000000000000000000000000000000000000000000000000000000";
    let burst = tally::web::limit::REFUSALS_BURST as usize;
    let mut answers = Vec::new();
    for _ in 0..burst + 30 {
        let a = t
            .api(Method::GET, "/api/v1/collections", Some(bad), None)
            .await;
        answers.push(a.status);
    }
    assert!(
        answers[..burst]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert!(
        answers[burst..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    let limited = t
        .api(Method::GET, "/api/v1/collections", Some(bad), None)
        .await;
    assert_eq!(limited.code(), "too_many_requests");
    assert!(limited.text().contains("too many refused tokens"));
    assert_eq!(
        limited.headers.get("retry-after").unwrap(),
        &tally::web::limit::REFUSAL_EVERY_SECONDS.to_string()
    );
    // Only the refusals answered 401 were audited.
    let log = t.app.store().audit_log(1000).await.unwrap();
    let refused = log
        .iter()
        .filter(|e| e.action == "authenticate" && e.outcome == "refused")
        .count();
    assert_eq!(refused, burst);
    // A live token from the same address is never slowed.
    for _ in 0..5 {
        let a = t
            .api(
                Method::GET,
                "/api/v1/collections",
                Some(&t.tokens.dap),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
}
