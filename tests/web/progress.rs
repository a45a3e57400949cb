//! The progress page: what moved the estimate, by cause; the report as a file, made now or
//! filed by DAP and kept as filed.

use crate::common;

use axum::http::{StatusCode, header};
use common::web::{csrf_field, spawn};
use tally::registry::report_files::{Format, write};

#[tokio::test]
async fn the_progress_page_explains_the_estimate_and_dap_files_the_report() {
    let t = spawn(None).await;
    let today = t
        .app
        .now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let yesterday = today - chrono::Days::new(1);

    // The causes from a day: from yesterday they add up; from tomorrow, or before 1900,
    // there is nothing true to say, and the API says so.
    let causes = |from: String| {
        let t = &t;
        async move {
            t.api(
                axum::http::Method::GET,
                &format!("/api/v1/burden/causes?from={from}"),
                Some(&t.tokens.dap),
                None,
            )
            .await
        }
    };
    let a = causes(yesterday.to_string()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    for from in [
        (today + chrono::Days::new(1)).to_string(),
        "1800-01-01".into(),
    ] {
        let a = causes(from.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{from}: {}",
            a.text()
        );
        assert!(
            a.text()
                .contains("must be a day from the year 1900 and not after today"),
            "{}",
            a.text()
        );
    }

    let page = t.page("/progress", None).await.text();
    let causes = &page[page.find("<h2 id=\"causes\">").expect("the causes section")..];
    for words in [
        "What moved the estimate since",
        "Programme change",
        "Adjustment",
        "Automation",
        "aria-label=\"The estimate on",
        "<td>Daily ward bed census</td>",
        "Every change, day by day",
    ] {
        assert!(
            causes.contains(words),
            "the causes lack {words:?}: {causes}"
        );
    }
    // The headline in hours and pounds, at the settings' rates.
    assert!(page.contains("hours (£"), "{page}");
    assert!(page.contains("No report has been filed yet."));
    // Only DAP is offered the form that files it, and sees the providers ranked.
    assert!(!page.contains("File the report"));
    assert!(!page.contains("Where the burden falls"));
    let dap = t.sign_in(&t.tokens.dap).await;
    let page = t.page("/progress", Some(&dap)).await.text();
    assert!(page.contains("File the report"));
    let ranked = &page[page.find("Where the burden falls").expect("the ranking")..];
    assert!(
        ranked.contains("<a href=\"/providers/RXA\">Ashford Hospitals</a> (RXA)"),
        "{ranked}"
    );

    // Anyone downloads the report as of a day, as the registry makes it.
    let expected = t
        .app
        .registry
        .progress_report(yesterday, t.app.settings.staff_rates.as_ref())
        .await
        .unwrap();
    let csv = t
        .page(
            &format!("/progress/report?as_of={yesterday}&format=csv"),
            None,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"burden-report-{yesterday}.csv\"").as_str()
    );
    assert_eq!(csv.body, write(&expected, Format::Csv).unwrap());
    let tomorrow = today + chrono::Days::new(1);
    let refused = t
        .page(
            &format!("/progress/report?as_of={tomorrow}&format=xlsx"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text().contains("that day is not over"),
        "{}",
        refused.text()
    );
    // Nor today, which is not over either.
    assert_eq!(
        t.page(&format!("/progress/report?as_of={today}&format=csv"), None)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let odd = t
        .page(
            &format!("/progress/report?as_of={yesterday}&format=pdf"),
            None,
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(odd.text().contains("use json, csv or xlsx"));

    // DAP files it; the page lists it and each download is the report as filed.
    let csrf = csrf_field(&page);
    let filed = t
        .form(
            "/progress/reports",
            Some(&dap),
            &[("csrf", &csrf), ("as_of", &yesterday.to_string())],
        )
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER);
    assert_eq!(filed.headers[header::LOCATION], "/progress?filed=1#reports");
    let page = t.page("/progress?filed=1", None).await.text();
    assert!(page.contains("Filed as report 1, as of"), "{page}");
    // The page says only what happened: a report never filed is not announced.
    assert!(
        !t.page("/progress?filed=7", None)
            .await
            .text()
            .contains("Filed as report 7")
    );
    assert!(page.contains("href=\"/progress/reports/1/xlsx\""));
    assert!(page.contains(common::dap()));
    let xlsx = t.page("/progress/reports/1/xlsx", None).await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(xlsx.body, write(&expected, Format::Xlsx).unwrap());
    // The JSON is the text filed, whose SHA-256 the register keeps.
    let json = t.page("/progress/reports/1/json", None).await;
    let (_, body, _) = t.app.registry.filed_report(1).await.unwrap().unwrap();
    assert_eq!(json.body, body.as_bytes());
    let filed = &t.app.store().burden_reports().await.unwrap()[0];
    use sha2::Digest;
    assert_eq!(filed.sha256, hex::encode(sha2::Sha256::digest(&json.body)));
    assert_eq!(
        t.page("/progress/reports/2/json", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.page("/progress/reports/1/pdf", None).await.status,
        StatusCode::NOT_FOUND
    );
    // A day still to come is refused, and said so on the page.
    let again = t
        .form(
            "/progress/reports",
            Some(&dap),
            &[("csrf", &csrf), ("as_of", &tomorrow.to_string())],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again
            .text()
            .contains("The report was not filed: a report as of"),
        "{}",
        again.text()
    );
    let log = t.app.store().audit_log(100).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "file_report" && e.outcome == "done")
    );
    assert!(
        log.iter()
            .any(|e| e.action == "file_report" && e.outcome == "refused")
    );
}

#[tokio::test]
async fn a_provider_records_the_time_a_period_took_and_dap_sees_the_median() {
    let t = spawn(None).await;
    let clerk = t.sign_in(&t.tokens.provider).await;
    let page = t.page("/providers/RXA", Some(&clerk)).await.text();
    assert!(page.contains("Record the time a submission took"), "{page}");
    let csrf = csrf_field(&page);
    let sent = t
        .form(
            "/providers/RXA/times",
            Some(&clerk),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("period", "2026-06-10"),
                ("minutes", "25"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(
        sent.text()
            .contains("Recorded: ward-bed-census 2026-06-10 took 25 minutes."),
        "{}",
        sent.text()
    );
    // The provider's own page prices its periods as achieved beside the estimate, with
    // the recorded time in June's line.
    let page = sent.text();
    assert!(
        page.contains("Over the last twelve months your periods cost"),
        "{page}"
    );
    assert!(
        page.contains(
            "<td>2026-06</td><td>Daily ward bed census</td><td class=\"num\">30</td><td class=\"num\">30</td><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">1</td>"
        ),
        "{page}"
    );
    let refused = t
        .form(
            "/providers/RXA/times",
            Some(&clerk),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("period", "2026-06-10"),
                ("minutes", "a while"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .contains("Nothing was recorded: the time must be a number of minutes"),
        "{}",
        refused.text()
    );
    // Another provider's page is not the clerk's to record on.
    let other = t
        .form(
            "/providers/RXB/times",
            Some(&clerk),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("period", "2026-06-10"),
                ("minutes", "25"),
            ],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // The collection's page shows what was recorded beside the listing's minutes.
    assert!(
        !t.page("/collections/ward-bed-census", Some(&clerk))
            .await
            .text()
            .contains("Periods recorded"),
        "what providers recorded is DAP's to see"
    );
    let dap = t.sign_in(&t.tokens.dap).await;
    let c = t
        .page("/collections/ward-bed-census", Some(&dap))
        .await
        .text();
    let burden = &c[c.find("<h2>Burden</h2>").expect("the burden section")..];
    assert!(
        burden.contains("<td>pulled</td><td class=\"num\">1</td><td class=\"num\">25 minutes</td>"),
        "{burden}"
    );
    let log = t.app.store().audit_log(100).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "record_time" && e.outcome == "done")
    );
    assert!(
        log.iter()
            .any(|e| e.action == "record_time" && e.outcome == "refused")
    );
}

/// A provider's own account, on its page and through the API, is its achieved periods:
/// June's thirty census days pulled from its source cost a sign-off each and saved the rest
/// of a form each; the July days owed by now and never sent are counted and cost nothing.
#[tokio::test]
async fn a_providers_burden_is_its_periods_as_achieved_on_its_page_and_through_the_api() {
    let t = common::web::spawn_at(None, Some(common::world::utc("2026-07-10T10:00:00Z"))).await;
    let a = t
        .api(
            axum::http::Method::GET,
            "/api/v1/burden/providers/RXA",
            Some(&t.tokens.provider),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let f = a.json();
    let month = |m: &str| {
        f["months"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["month"] == m && r["collection"] == "ward-bed-census")
            .unwrap_or_else(|| panic!("{m} in {f}"))
            .clone()
    };
    let near = |v: &serde_json::Value, x: f64| (v.as_f64().unwrap() - x).abs() < 1e-9;
    // The census's listing: 45 minutes by hand, 2 to sign off a pull.
    let june = month("2026-06");
    assert_eq!(
        [
            &june["owed"],
            &june["pulled"],
            &june["by_hand"],
            &june["never_sent"]
        ],
        [30, 30, 0, 0]
    );
    assert!(near(&june["achieved_hours"], 30.0 * 2.0 / 60.0), "{june}");
    assert!(
        near(&june["pulled_hours"], 1.0) && near(&june["by_hand_hours"], 0.0),
        "{june}"
    );
    assert!(near(&june["saved_hours"], 30.0 * 43.0 / 60.0), "{june}");
    // 1 to 8 July are past their noon deadline on the 10th; the 9th is not yet.
    let july = month("2026-07");
    assert_eq!([&july["owed"], &july["never_sent"]], [8, 8]);
    assert!(near(&july["achieved_hours"], 0.0) && near(&july["estimated_hours"], 8.0 * 2.0 / 60.0));
    // The totals are the months' sums.
    for total in [
        "achieved_hours",
        "estimated_hours",
        "pulled_hours",
        "by_hand_hours",
        "saved_hours",
    ] {
        let sum: f64 = f["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[total].as_f64().unwrap())
            .sum();
        assert!(near(&f[total], sum), "{total}: {f}");
    }
    assert_eq!(
        f["automated_since"], "2026-04-02",
        "the first pull, the morning after 1 April"
    );

    // The page shows the same account: its totals, the chart, and June's line.
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    let burden = &html[html
        .find("<h2>Your burden</h2>")
        .expect("the burden section")..];
    for words in [
        "<dt>Pulled from your source since</dt><dd>2 April 2026</dd>",
        "<dt>Hours saved by pulling</dt>",
        "<svg role=\"img\"",
        "<td>2026-06</td><td>Daily ward bed census</td><td class=\"num\">30</td><td class=\"num\">30</td>",
    ] {
        assert!(
            burden.contains(words),
            "the burden section lacks {words:?}: {burden}"
        );
    }
}
