//! Nil returns: a provider with nothing to report for a period says so on its page (after
//! a confirmation that says what it means) or through the API, where the collection's
//! definition allows one; it lands as a version with no rows, and the page shows it.

use crate::common;

use axum::http::{Method, StatusCode};
use common::web::{TestApp, csrf_field, spawn_at};
use common::world::utc;
use tally::domain::Arrival;

const VIRTUAL_WARDS: &str = "virtual-ward-capacity";

/// DAP lists the virtual ward collection, which takes nil returns, owed from 1 March.
async fn list_virtual_wards(t: &TestApp) {
    let def = tally::registry::load::load_file(
        &common::repo().join("collections/proposals/virtual-ward-capacity.toml"),
        chrono_tz::Europe::London,
    )
    .unwrap();
    assert!(def.def.nil_return);
    let at = utc("2026-03-01T09:00:00Z");
    let r = &t.world.registry;
    r.propose(&def, "NHS England", at).await.unwrap();
    common::list_owed_at_once(r, VIRTUAL_WARDS, at).await;
}

#[tokio::test]
async fn a_provider_with_nothing_to_report_declares_a_nil_return_once_it_has_confirmed() {
    // 10 July 2026: June's virtual ward return was due on 6 July.
    let t = spawn_at(None, Some(utc("2026-07-10T10:00:00Z"))).await;
    list_virtual_wards(&t).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    let overdue =
        &html[html.find("<h2>Overdue</h2>").unwrap()..html.find("<h2>Due this week</h2>").unwrap()];
    assert!(
        overdue.contains("Nothing to report<span class=\"visually-hidden\"> for Virtual ward capacity and occupancy, 2026-06</span>"),
        "{overdue}"
    );
    // The census takes no nil return: its overdue days offer none.
    assert!(!overdue.contains("for Ward bed census"), "{overdue}");
    let csrf = csrf_field(&html);

    // First the page says what it means, and nothing lands.
    let runs = t.runs().await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("collection", VIRTUAL_WARDS),
        ("period", "2026-06"),
    ];
    let a = t.form("/providers/RXA/nil", Some(&me), &fields).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let confirm = a.text();
    assert!(
        confirm.contains("Nothing to report for Virtual ward capacity and occupancy, 2026-06?"),
        "{confirm}"
    );
    assert!(
        confirm.contains("It counts as received, with no rows"),
        "{confirm}"
    );
    assert!(
        confirm.contains("name=\"confirmed\" value=\"yes\""),
        "{confirm}"
    );
    assert_eq!(t.runs().await, runs, "nothing lands before it is confirmed");

    // "Confirmed" without the version the page described is asked again, not taken.
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirmed", "yes"));
    let a = t.form("/providers/RXA/nil", Some(&me), &confirmed).await;
    assert!(
        a.text().contains("Declare nothing to report"),
        "{}",
        a.text()
    );
    assert_eq!(t.runs().await, runs);

    // Confirmed, it lands as a version with no rows, late (the deadline has passed).
    confirmed.push(("version", "0"));
    let a = t.form("/providers/RXA/nil", Some(&me), &confirmed).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let html = a.text();
    assert!(html.contains("as a nil return"), "{html}");
    assert_eq!(t.runs().await, runs + 1);
    let key = tally::domain::RunKey {
        collection: VIRTUAL_WARDS.into(),
        provider: "RXA".into(),
        period: tally::domain::Period::parse("2026-06").unwrap(),
    };
    let v = t.app.store().current_version(&key).await.unwrap().unwrap();
    assert_eq!(v.rows_accepted, 0);
    let run = t.app.store().run(v.run_id).await.unwrap().unwrap();
    assert_eq!(run.arrived, Arrival::Nil);
    assert_eq!(run.status.as_str(), "late");
    // The page no longer lists June as overdue, and shows it as nothing to report.
    let overdue_now = html
        .find("<h2>Overdue</h2>")
        .map(|at| &html[at..html.find("<h2>Due this week</h2>").unwrap()])
        .unwrap_or_default();
    assert!(!overdue_now.contains("Virtual ward"), "{overdue_now}");
    assert!(html.contains("nothing to report, late"), "{html}");
    assert!(html.contains("<td>nil return</td>"), "{html}");
    let audit = t.app.store().audit_log(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "nil return" && e.outcome == "done"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_api_takes_a_nil_return_only_where_the_definition_allows_and_asks_before_it_replaces_rows()
 {
    let t = spawn_at(None, Some(utc("2026-07-10T10:00:00Z"))).await;
    list_virtual_wards(&t).await;
    let path = "/api/v1/providers/RXA/nil-returns";
    let token = Some(t.tokens.provider.as_str());
    let nil = |collection: &str, period: &str, replace: bool| serde_json::json!({"collection": collection, "period": period, "replace": replace});
    // The census expects rows from every trust every day.
    let a = t
        .api(
            Method::POST,
            path,
            token,
            Some(nil("ward-bed-census", "2026-07-01", false)),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(
        a.text().contains("does not take nil returns"),
        "{}",
        a.text()
    );
    // Another provider's nil return is not this token's to make.
    let a = t
        .api(
            Method::POST,
            "/api/v1/providers/RXB/nil-returns",
            token,
            Some(nil(VIRTUAL_WARDS, "2026-06", false)),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    // A month not yet ended is refused, as an upload's would be.
    let a = t
        .api(
            Method::POST,
            path,
            token,
            Some(nil(VIRTUAL_WARDS, "2026-07", false)),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());

    // June's figures land from a file; a nil return then would remove every row.
    let csv = "snapshot_date,virtual_ward_capacity,virtual_ward_patients\n2026-06-30,25,19\n";
    let a = t
        .upload(
            "/api/v1/providers/RXA/uploads",
            token,
            None,
            &[("collection", VIRTUAL_WARDS), ("period", "2026-06")],
            Some(("june.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.json()["nil_return"], false);
    let a = t
        .api(
            Method::POST,
            path,
            token,
            Some(nil(VIRTUAL_WARDS, "2026-06", false)),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::CONFLICT, "confirm_replace"),
        "{}",
        a.text()
    );
    // Confirmed, it replaces them: an amendment with no rows.
    let a = t
        .api(
            Method::POST,
            path,
            token,
            Some(nil(VIRTUAL_WARDS, "2026-06", true)),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let up = a.json();
    assert_eq!(
        (
            &up["status"],
            &up["nil_return"],
            &up["rows_before"],
            &up["rows_accepted"]
        ),
        (
            &serde_json::json!("amended"),
            &serde_json::json!(true),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{up}"
    );
    // Declared again, nothing changes.
    let a = t
        .api(
            Method::POST,
            path,
            token,
            Some(nil(VIRTUAL_WARDS, "2026-06", true)),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["status"], "unchanged");
    assert_eq!(a.json()["nil_return"], true);
}

#[tokio::test]
async fn a_nil_return_overtaken_by_a_file_landing_meanwhile_is_not_declared() {
    // 3 July 2026: May's return is overdue and still taken (until 6 July).
    let t = spawn_at(None, Some(utc("2026-07-03T10:00:00Z"))).await;
    list_virtual_wards(&t).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let csrf = csrf_field(&t.page("/providers/RXA", Some(&me)).await.text());
    let may = [
        ("csrf", csrf.as_str()),
        ("collection", VIRTUAL_WARDS),
        ("period", "2026-05"),
    ];
    let asked = t.form("/providers/RXA/nil", Some(&me), &may).await;
    assert!(
        asked.text().contains("name=\"version\" value=\"0\""),
        "{}",
        asked.text()
    );
    // A colleague uploads May's figures while the page waits for the answer.
    let csv = "snapshot_date,virtual_ward_capacity,virtual_ward_patients\n2026-05-31,25,19\n";
    let landed = t
        .upload(
            "/api/v1/providers/RXA/uploads",
            Some(&t.tokens.provider),
            None,
            &[("collection", VIRTUAL_WARDS), ("period", "2026-05")],
            Some(("may.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(landed.status, StatusCode::CREATED, "{}", landed.text());
    let runs = t.runs().await;
    let mut confirmed = may.to_vec();
    confirmed.extend([("confirmed", "yes"), ("version", "0")]);
    let a = t.form("/providers/RXA/nil", Some(&me), &confirmed).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    assert!(
        a.text()
            .contains("version 1 of virtual-ward-capacity 2026-05 has landed since"),
        "{}",
        a.text()
    );
    assert_eq!(t.runs().await, runs, "nothing replaced the rows unseen");
}
