//! What each role may do through the API, and nothing more: every endpoint asked by no one,
//! DAP, a provider (for itself and for another), DHSC, an ICS and an administrator.

use crate::common;
use crate::common::web::spawn_at;
use axum::http::{Method, StatusCode};
use serde_json::json;

/// Every endpoint × every role: the status each gets. Columns: no token, dap, provider (RXA),
/// dhsc, ics (the ICB QMJ), admin.
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
    let cases: Vec<(Method, &str, Option<serde_json::Value>, [StatusCode; 6])> = vec![
        (
            Method::GET,
            "/api/v1/register",
            None,
            [ok, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/collections",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/collections/ward-bed-census",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::POST,
            "/api/v1/collections/check",
            Some(def.clone()),
            [unauth, ok, forbid, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/providers",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXA/obligations",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXB/obligations",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXA/holds",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXB/holds",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        // Nothing is held in this world: the provider may ask, and is told so.
        (
            Method::POST,
            "/api/v1/providers/RXA/holds/confirmations",
            Some(json!({"collection": "ward-bed-census", "period": "2026-06-30", "version": 1})),
            [unauth, forbid, missing, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXA/signoffs",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/providers/RXB/signoffs",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        // The last day of June was pulled: the provider signs it off, once.
        (
            Method::POST,
            "/api/v1/providers/RXA/signoffs/periods",
            Some(json!({"collection": "ward-bed-census", "period": "2026-06-30", "version": 1})),
            [unauth, forbid, ok, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/providers/RXB/signoffs/periods",
            Some(json!({"collection": "ward-bed-census", "period": "2026-06-30", "version": 1})),
            [unauth, forbid, forbid, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/providers/RXA/signoffs/standing",
            Some(json!({"collection": "ward-bed-census", "from": "2026-07-01"})),
            [unauth, forbid, created, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/providers/RXA/signoffs/revocations",
            Some(json!({"collection": "ward-bed-census"})),
            [unauth, forbid, ok, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/runs",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs?provider=RXB",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs/1",
            None,
            [unauth, ok, ok, missing, missing, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns",
            None,
            [unauth, ok, forbid, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1",
            None,
            [unauth, ok, forbid, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv",
            None,
            [unauth, ok, forbid, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/achieved?from=2026-04-01&to=2026-07-01",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/achieved?from=2026-07-01&to=2026-04-01",
            None,
            [
                unauth, unreadable, unreadable, unreadable, unreadable, unreadable,
            ],
        ),
        (
            Method::GET,
            "/api/v1/burden/trajectory",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/causes",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/report?as_of=2026-07-01",
            None,
            [unauth, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/report?as_of=2026-07-10",
            None,
            [
                unauth, unreadable, unreadable, unreadable, unreadable, unreadable,
            ],
        ),
        (
            Method::POST,
            "/api/v1/providers/RXA/times",
            Some(json!({"collection": "ward-bed-census", "period": "2026-06-10", "minutes": 20.0})),
            [unauth, forbid, created, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/burden/providers/RXA",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/burden/providers/RXB",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        (
            Method::PUT,
            "/api/v1/burden/budget",
            Some(budget),
            [unauth, ok, forbid, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/audit",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        (
            Method::GET,
            "/api/v1/exceptions",
            None,
            [unauth, ok, forbid, forbid, forbid, ok],
        ),
        (
            Method::POST,
            "/api/v1/exceptions",
            Some(exception),
            [unauth, created, forbid, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            Some(reason),
            [unauth, ok, forbid, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections",
            Some(def),
            [unauth, created, forbid, forbid, forbid, forbid],
        ),
        (
            Method::GET,
            "/api/v1/runs?limit=0",
            None,
            [unauth, bad, bad, forbid, forbid, bad],
        ),
        // A query that does not parse is refused before anything else is asked.
        (
            Method::GET,
            "/api/v1/runs?limit=lots",
            None,
            [unauth, bad, bad, bad, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/nowhere",
            None,
            [missing, missing, missing, missing, missing, missing],
        ),
        // A download asked for badly is refused for the role first, then for the query.
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download",
            None,
            [unauth, bad, forbid, bad, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv&version=first",
            None,
            [unauth, bad, forbid, bad, bad, bad],
        ),
        (
            Method::GET,
            "/api/v1/openapi.json",
            None,
            [ok, ok, ok, ok, ok, ok],
        ),
        (
            Method::GET,
            "/api/v1/runs?provider=RXA",
            None,
            [unauth, ok, ok, forbid, forbid, ok],
        ),
        // A body that does not read is only looked at once the caller may act: anyone else
        // is refused (and audited) whatever they sent.
        (
            Method::POST,
            "/api/v1/collections/check",
            Some(json!({"nonsense": true})),
            [unauth, unreadable, forbid, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections",
            Some(json!({"nonsense": true})),
            [unauth, unreadable, forbid, forbid, forbid, forbid],
        ),
        (
            Method::POST,
            "/api/v1/collections/uec-sitrep-manual/decisions",
            Some(json!({"action": "shred"})),
            [unauth, unreadable, forbid, forbid, forbid, forbid],
        ),
        (
            Method::PUT,
            "/api/v1/burden/budget",
            Some(json!({"cap_hours": "lots"})),
            [unauth, unreadable, forbid, forbid, forbid, forbid],
        ),
    ];
    let tokens = [
        None,
        Some(&t.tokens.dap),
        Some(&t.tokens.provider),
        Some(&t.tokens.dhsc),
        Some(&t.tokens.ics),
        Some(&t.tokens.admin),
    ];
    let roles = ["none", "dap", "provider", "dhsc", "ics", "admin"];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &cases {
        // Roles that must be refused go first, so a state change by an allowed role cannot
        // hide a refusal.
        let mut order: Vec<usize> = (0..6).collect();
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
    for (i, expected) in [unauth, forbid, created, forbid, forbid, forbid]
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
        ("propose", 8),
        ("check", 8),
        ("reject", 4),
        ("decide", 4),
        ("set_budget", 8),
        ("download", 3),
        ("upload", 6),
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
