//! The JSON API over the small returns world: what each role may do (and nothing more),
//! tokens refused, decisions and downloads checked and audited. Uploads are in
//! tests/web_uploads.rs, the OpenAPI document in tests/openapi.rs.

mod common;

use axum::http::{Method, StatusCode};
use common::web::{spawn, spawn_at};
use serde_json::json;

/// Every endpoint × every role: the status each gets. Columns: no token, dap, provider (RXA),
/// dhsc, admin.
#[tokio::test]
async fn each_role_can_do_exactly_what_it_should() {
    // Early July 2026, when the census days it uploads are inside their window.
    let t = spawn_at(None, Some(common::world::utc("2026-07-10T10:00:00Z"))).await;
    let reason = json!({"action": "reject", "reason": "Derivable from the ward bed census"});
    let budget = json!({"cap_hours": 60000.0, "reason": "Cap for the year"});
    let exception = json!({"collection": "care-home-capacity", "provider": "1-101",
                           "period": "2026-03", "reason": "March, sent late"});
    let def =
        json!({"toml": std::fs::read_to_string(common::collection_path("kh03-manual")).unwrap()});
    use StatusCode as S;
    let (ok, created, unauth, forbid, missing, bad, unreadable) = (
        S::OK,
        S::CREATED,
        S::UNAUTHORIZED,
        S::FORBIDDEN,
        S::NOT_FOUND,
        S::BAD_REQUEST,
        S::UNPROCESSABLE_ENTITY,
    );
    let cases: Vec<(Method, &str, Option<serde_json::Value>, [StatusCode; 5])> = vec![
        (Method::GET, "/api/v1/register", None, [ok, ok, ok, ok, ok]),
        (
            Method::GET,
            "/api/v1/collections",
            None,
            [unauth, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/collections/ward-bed-census",
            None,
            [unauth, ok, ok, ok, ok],
        ),
        (
            Method::POST,
            "/api/v1/collections/check",
            Some(def.clone()),
            [unauth, ok, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/providers",
            None,
            [unauth, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXA/obligations",
            None,
            [unauth, ok, ok, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXB/obligations",
            None,
            [unauth, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs",
            None,
            [unauth, ok, ok, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs?provider=RXB",
            None,
            [unauth, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs/1",
            None,
            [unauth, ok, ok, missing, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns",
            None,
            [unauth, ok, forbid, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1",
            None,
            [unauth, ok, forbid, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv",
            None,
            [unauth, ok, forbid, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden",
            None,
            [unauth, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/trajectory",
            None,
            [unauth, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/providers/RXA",
            None,
            [unauth, ok, ok, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/providers/RXB",
            None,
            [unauth, ok, forbid, forbid, ok],
        ),
        (
            Method::PUT,
            "/api/v1/burden/budget",
            Some(budget),
            [unauth, ok, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/audit",
            None,
            [unauth, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/exceptions",
            None,
            [unauth, ok, forbid, forbid, ok],
        ),
        (
            Method::POST,
            "/api/v1/exceptions",
            Some(exception),
            [unauth, created, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            Some(reason),
            [unauth, ok, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections",
            Some(def),
            [unauth, created, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/runs?limit=0",
            None,
            [unauth, bad, bad, forbid, bad],
        ),
        // A query that does not parse is refused before anything else is asked.
        (
            Method::GET,
            "/api/v1/runs?limit=lots",
            None,
            [unauth, bad, bad, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/nowhere",
            None,
            [missing, missing, missing, missing, missing],
        ),
        // A download asked for badly is refused for the role first, then for the query.
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download",
            None,
            [unauth, bad, forbid, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv&version=first",
            None,
            [unauth, bad, forbid, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/openapi.json",
            None,
            [ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs?provider=RXA",
            None,
            [unauth, ok, ok, forbid, ok],
        ),
        // A body that does not read is only looked at once the caller may act: anyone else
        // is refused (and audited) whatever they sent.
        (
            Method::POST,
            "/api/v1/collections/check",
            Some(json!({"nonsense": true})),
            [unauth, unreadable, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections",
            Some(json!({"nonsense": true})),
            [unauth, unreadable, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            Some(json!({"action": "shred"})),
            [unauth, unreadable, forbid, forbid, forbid],
        ),
        (
            Method::PUT,
            "/api/v1/burden/budget",
            Some(json!({"cap_hours": "lots"})),
            [unauth, unreadable, forbid, forbid, forbid],
        ),
    ];
    let tokens = [
        None,
        Some(&t.tokens.dap),
        Some(&t.tokens.provider),
        Some(&t.tokens.dhsc),
        Some(&t.tokens.admin),
    ];
    let roles = ["none", "dap", "provider", "dhsc", "admin"];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &cases {
        // Roles that must be refused go first, so a state change by an allowed role cannot
        // hide a refusal.
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by_key(|i| expected[*i].is_success());
        for i in order {
            let a = t
                .api(
                    method.clone(),
                    path,
                    tokens[i].map(String::as_str),
                    body.clone(),
                )
                .await;
            if a.status != expected[i] {
                wrong.push(format!(
                    "{method} {path} as {}: {} (expected {}) {}",
                    roles[i],
                    a.status,
                    expected[i],
                    a.text()
                ));
            }
        }
    }
    // Errors the extractors and the router raise are JSON with a code too.
    for (path, code) in [
        ("/api/v1/nowhere", "not_found"),
        ("/api/v1/runs?limit=lots", "bad_request"),
    ] {
        assert_eq!(
            t.api(Method::GET, path, Some(&t.tokens.dap), None)
                .await
                .code(),
            code,
            "{path}"
        );
    }
    let a = t
        .api(
            Method::DELETE,
            "/api/v1/register",
            Some(&t.tokens.dap),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    // Uploads, as a multipart form.
    let csv = common::world::census("RXA", chrono::NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
    for (i, expected) in [unauth, forbid, created, forbid, forbid]
        .into_iter()
        .enumerate()
    {
        let fields = [("collection", "ward-bed-census"), ("period", "2026-07-02")];
        let a = t
            .upload(
                "/api/v1/providers/RXA/uploads",
                tokens[i].map(String::as_str),
                None,
                &fields,
                Some(("day.csv", csv.as_bytes())),
            )
            .await;
        if a.status != expected {
            wrong.push(format!(
                "upload as {}: {} (expected {expected}) {}",
                roles[i],
                a.status,
                a.text()
            ));
        }
    }
    // A provider may not upload for another, nor send a body that is not a form instead.
    let theirs = t
        .upload(
            "/api/v1/providers/RXB/uploads",
            Some(&t.tokens.provider),
            None,
            &[("collection", "ward-bed-census"), ("period", "2026-07-02")],
            Some(("day.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(theirs.status, forbid, "{}", theirs.text());
    let not_a_form = t
        .api(
            Method::POST,
            "/api/v1/providers/RXB/uploads",
            Some(&t.tokens.provider),
            Some(json!({"file": "x"})),
        )
        .await;
    assert_eq!(not_a_form.status, forbid, "{}", not_a_form.text());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every refusal of a governance action or a download is in the audit log, those with
    // bodies that did not read too.
    let log = t.app.store().audit_log(1000).await.unwrap();
    for (action, refusals) in [
        ("propose", 6),
        ("check", 6),
        ("reject", 3),
        ("decide", 3),
        ("set_budget", 6),
        ("download", 3),
        ("upload", 5),
    ] {
        let n = log
            .iter()
            .filter(|e| e.action == action && e.outcome == "refused")
            .count();
        assert_eq!(n, refusals, "{action} refusals in the audit log");
    }

    // A provider's run listing holds its own runs only.
    let runs = t
        .api(
            Method::GET,
            "/api/v1/runs?limit=1000",
            Some(&t.tokens.provider),
            None,
        )
        .await
        .json();
    let runs = runs.as_array().unwrap();
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|r| r["provider"] == "RXA"), "{runs:?}");
    // Another provider's run is not found, so its number tells nothing.
    let theirs = t
        .world
        .registry
        .store()
        .runs(&tally::store::runs::RunFilter {
            provider: Some("RXB".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let a = t
        .api(
            Method::GET,
            &format!("/api/v1/runs/{}", theirs[0].id),
            Some(&t.tokens.provider),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // The provider list a provider gets is its own.
    let list = t
        .api(
            Method::GET,
            "/api/v1/providers",
            Some(&t.tokens.provider),
            None,
        )
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

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

#[tokio::test]
async fn returns_download_in_every_format_and_each_download_is_audited() {
    let t = spawn(None).await;
    for (format, starts) in [
        ("csv", &b"level"[..]),
        ("xlsx", b"PK"),
        ("parquet", b"PAR1"),
        ("json", b"["),
        ("sdmx-csv", b"STRUCTURE"),
    ] {
        let a = t
            .api(
                Method::GET,
                &format!(
                    "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format={format}"
                ),
                Some(&t.tokens.dhsc),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{format}: {}", a.text());
        assert!(
            a.body.starts_with(starts),
            "{format}: {:?}",
            &a.body[..a.body.len().min(40)]
        );
        let disposition = a.headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains("kh03-quarterly-2026-27-Q1-v1"),
            "{disposition}"
        );
    }
    let log = t.app.store().audit_log(100).await.unwrap();
    let downloads: Vec<_> = log.iter().filter(|e| e.action == "download").collect();
    assert_eq!(downloads.len(), 5);
    assert!(
        downloads
            .iter()
            .all(|d| d.actor == "DHSC analyst" && d.role == "dhsc")
    );
    for (path, status) in [
        (
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=exe",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/returns/..%2F..%2Fetc/periods/2026-27-Q1/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/..%2F..%2Fpasswd/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/2025-26-Q1/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv&version=99",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let a = t.api(Method::GET, path, Some(&t.tokens.dhsc), None).await;
        assert_eq!(a.status, status, "{path}: {}", a.text());
    }
}

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

/// An error answered to a client that takes gzip (every browser) is a readable body: the
/// error layer rewrites a plain-text rejection into JSON, and it is compressed afresh, never
/// sent plain under the old body's `content-encoding`.
#[tokio::test]
async fn error_answers_read_whole_for_clients_that_take_gzip() {
    use std::io::Read;
    let t = spawn(None).await;
    for (path, code) in [
        ("/api/v1/runs?limit=abc", "bad_request"),
        ("/api/v1/nowhere", "not_found"),
    ] {
        let req = axum::http::Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {}", t.tokens.dap))
            .header("accept-encoding", "gzip")
            .body(axum::body::Body::empty())
            .unwrap();
        let a = t.send(req).await;
        let body = match a
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap())
        {
            Some("gzip") => {
                let mut text = Vec::new();
                flate2::read::GzDecoder::new(a.body.as_slice())
                    .read_to_end(&mut text)
                    .unwrap_or_else(|e| panic!("{path}: the gzip body does not inflate: {e}"));
                text
            }
            None => a.body.clone(),
            Some(other) => panic!("{path}: content-encoding {other}"),
        };
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(json["error"]["code"], code, "{path}");
    }
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
