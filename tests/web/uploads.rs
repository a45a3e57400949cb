//! Uploads through the API: landed by the same path as a pulled extract, and every kind of
//! bad upload refused, audited and not stored.

use crate::common;

use axum::http::{Method, StatusCode};
use common::web::spawn_at;
use common::world::utc;

const CARE_HOMES: &str = common::world::HOMES;

/// A care home's return for the month of `day`, its snapshot taken on `day`.
fn homes_csv(day: &str, capacity: u32) -> String {
    format!("{CARE_HOMES}\n{day},{capacity},30,1,2\n")
}

/// Early July 2026: May's returns are late but inside their amendment window, June's are
/// on time, and April's window has closed.
fn early_july() -> Option<chrono::DateTime<chrono::Utc>> {
    Some(utc("2026-07-02T10:00:00Z"))
}

#[tokio::test]
async fn uploads_land_by_the_pull_path_and_bad_ones_are_refused_with_nothing_stored() {
    let t = spawn_at(Some(64 * 1024), early_july()).await;
    let path = "/api/v1/providers/1-101/uploads";
    // A provider token for RXA cannot upload for a care home.
    let a = t
        .upload(
            path,
            Some(&t.tokens.provider),
            None,
            &[("collection", "care-home-capacity"), ("period", "2026-05")],
            Some(("may.csv", homes_csv("2026-05-31", 40).as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    // Make a token for the care home and upload for it.
    let (row, home) = tally::web::auth::issue(
        tally::store::access::Role::Provider,
        &["1-101".into()],
        "Oak House manager",
        "test",
        None,
        chrono::Utc::now(),
    )
    .unwrap();
    t.app.store().add_token(&row).await.unwrap();
    let runs_before = t.runs().await;
    let a = t
        .upload(
            path,
            Some(&home),
            None,
            &[("collection", "care-home-capacity"), ("period", "2026-05")],
            Some(("may.csv", homes_csv("2026-05-31", 40).as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let up = a.json();
    // May's figures, sent in the autumn: after the deadline, inside the amendment window.
    assert!(
        matches!(up["status"].as_str(), Some("landed" | "late")),
        "{up}"
    );
    assert_eq!(up["rows_accepted"], 1);
    assert_eq!(t.runs().await, runs_before + 1);
    let run = t
        .app
        .store()
        .run(up["run_id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(run.uploaded(), "an upload is recorded as by hand");

    // (what, the form's fields, the file, the status, the error code)
    type Refusal<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<(&'a str, Vec<u8>)>,
        StatusCode,
        &'a str,
    );
    let refused: Vec<Refusal> = vec![
        (
            "oversized",
            vec![("collection", "care-home-capacity"), ("period", "2026-06")],
            Some(("big.csv", vec![b'1'; 200 * 1024])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "wrong type",
            vec![("collection", "care-home-capacity"), ("period", "2026-06")],
            Some(("june.exe", b"MZ\x90\x00".to_vec())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "unlisted",
            vec![("collection", "kh03-manual"), ("period", "2026-06")],
            Some(("june.csv", homes_csv("2026-06-30", 40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_licensed",
        ),
        (
            "unknown collection",
            vec![
                ("collection", "'; DROP TABLE runs; --"),
                ("period", "2026-06"),
            ],
            Some(("june.csv", homes_csv("2026-06-30", 40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_licensed",
        ),
        (
            "bad period",
            vec![
                ("collection", "care-home-capacity"),
                ("period", "../../etc"),
            ],
            Some(("june.csv", homes_csv("2026-06-30", 40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "period not over",
            vec![("collection", "care-home-capacity"), ("period", "2099-01")],
            Some(("jan.csv", homes_csv("2099-01-31", 40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "no file",
            vec![("collection", "care-home-capacity"), ("period", "2026-06")],
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "stray field",
            vec![
                ("collection", "care-home-capacity"),
                ("period", "2026-06"),
                ("provider", "RXB"),
            ],
            Some(("june.csv", homes_csv("2026-06-30", 40).into_bytes())),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (what, fields, file, status, code) in refused {
        let a = t
            .upload(
                path,
                Some(&home),
                None,
                &fields,
                file.as_ref().map(|(n, b)| (*n, b.as_slice())),
            )
            .await;
        assert_eq!(a.status, status, "{what}: {}", a.text());
        assert_eq!(a.code(), code, "{what}: {}", a.text());
        if what == "unlisted" {
            let m = a.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                m.contains("not a licensed collection") && m.contains("may ignore"),
                "{m}"
            );
        }
    }
    // Far over the limit: refused by its Content-Length before it is read, as JSON all the
    // same; and sent without a length, cut off as it streams in.
    let huge = vec![b'1'; 300 * 1024];
    let fields = [("collection", "care-home-capacity"), ("period", "2026-06")];
    let a = t
        .upload(path, Some(&home), None, &fields, Some(("huge.csv", &huge)))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{}",
        a.text()
    );
    let boundary = "b0undary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"collection\"\r\n\r\ncare-home-capacity\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"period\"\r\n\r\n2026-06\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.csv\"\r\n\r\n").into_bytes();
    body.extend(&huge);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let streamed = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {home}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from_stream(futures_util::stream::iter(
            body.chunks(8192)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .unwrap();
    let a = t.send(streamed).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{}",
        a.text()
    );
    // A path in the file's name is ignored, never followed: the file lands as any other.
    let a = t
        .upload(
            path,
            Some(&home),
            None,
            &[("collection", "care-home-capacity"), ("period", "2026-06")],
            Some((
                "../../../../etc/june.csv",
                homes_csv("2026-06-30", 41).as_bytes(),
            )),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    // Refusals stored nothing: one run for each of the two uploads that landed, and no
    // upload copy left behind.
    assert_eq!(t.runs().await, runs_before + 2);
    let left: Vec<_> = std::fs::read_dir(t.world.dir.path().join("uploads"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let log = t.app.store().audit_log(100).await.unwrap();
    let uploads: Vec<_> = log.iter().filter(|e| e.action == "upload").collect();
    // Every refusal, the two far over the limit included.
    assert_eq!(
        uploads.iter().filter(|e| e.outcome == "refused").count(),
        11,
        "{uploads:#?}"
    );
    assert!(
        uploads
            .iter()
            .any(|e| e.detail.contains("larger than the upload limit of 64 KB"))
    );
    assert_eq!(uploads.iter().filter(|e| e.outcome == "done").count(), 2);
}

/// A token for `codes`, as an admin would make one.
async fn provider_token(t: &common::web::TestApp, codes: &[&str]) -> String {
    let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    let (row, token) = tally::web::auth::issue(
        tally::store::access::Role::Provider,
        &codes,
        "Data manager",
        "test",
        None,
        chrono::Utc::now(),
    )
    .unwrap();
    t.app.store().add_token(&row).await.unwrap();
    token
}

/// Uploads are locked in time and place: a period before the collection was listed, after
/// its amendment window, or of a provider closed by then is refused in words, with nothing
/// stored, unless DAP has granted an exception; a correction says what it changes, and one
/// that removes more than half of a period's rows waits for confirmation.
#[tokio::test]
async fn uploads_keep_to_the_window_and_a_shrinking_correction_waits_for_confirmation() {
    let t = spawn_at(Some(1 << 20), early_july()).await;
    let home = provider_token(&t, &["1-101"]).await;
    let corby = provider_token(&t, &["RXC"]).await;
    let ashford = provider_token(&t, &["RXA"]).await;
    let homes = "/api/v1/providers/1-101/uploads";
    let upload = |token: &str, path: &str, period: &str, name: &str, bytes: Vec<u8>| {
        let (token, path, period, name) = (
            token.to_owned(),
            path.to_owned(),
            period.to_owned(),
            name.to_owned(),
        );
        let t = &t;
        async move {
            t.upload(
                &path,
                Some(&token),
                None,
                &[("collection", &census_or_homes(&path)), ("period", &period)],
                Some((&name, &bytes)),
            )
            .await
        }
    };
    let runs_before = t.runs().await;
    // February: before care-home capacity was owed, from 1 March.
    let a = upload(
        &home,
        homes,
        "2026-02",
        "feb.csv",
        homes_csv("2026-02-28", 40).into(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(a.text().contains("owed from 1 March 2026"), "{}", a.text());
    // April: its amendment window closed on 4 June.
    let april = homes_csv("2026-04-30", 41);
    let a = upload(&home, homes, "2026-04", "apr.csv", april.clone().into()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(a.text().contains("amendment window"), "{}", a.text());
    // Corby closed on 1 May when Bramley took it over: it owes nothing for June.
    let census = "/api/v1/providers/RXC/uploads";
    let june = common::world::census("RXC", chrono::NaiveDate::from_ymd_opt(2026, 6, 10).unwrap());
    let a = upload(&corby, census, "2026-06-10", "c.csv", june.into()).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(
        a.text().contains(
            "RXC was not open during 2026-06-10 (it closed on 2026-05-01; RXB took over)"
        ),
        "{}",
        a.text()
    );
    // A NUL in a field is refused before anything reads it.
    let a = t
        .upload(
            homes,
            Some(&home),
            None,
            &[
                ("collection", "care-home-capacity\0"),
                ("period", "2026-06"),
            ],
            Some(("june.csv", homes_csv("2026-06-30", 40).as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert_eq!(t.runs().await, runs_before, "nothing was run for a refusal");

    // DAP grants April as an exception; then it lands, late.
    let a = t
        .api(
            Method::POST,
            "/api/v1/exceptions",
            Some(&t.tokens.dap),
            Some(serde_json::json!({
                "collection": "care-home-capacity", "provider": "1-101",
                "period": "2026-04", "reason": "the home's system lost April's return",
            })),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a = upload(&home, homes, "2026-04", "apr.csv", april.into()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(
        a.json()["status"],
        "amended",
        "April had landed in the world already"
    );

    // A correction of one of RXA's June days that keeps 1 of its rows is held back.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let full = common::world::census("RXA", day);
    let rows_before = full.lines().count() as u64 - 1;
    let one: String = full.lines().take(2).map(|l| format!("{l}\n")).collect();
    let bad = format!("{one}2026-06-30,RXA01,W9,general_acute,overnight,adult,core,general,5,9\n");
    let ashford_path = "/api/v1/providers/RXA/uploads";
    let a = upload(
        &ashford,
        ashford_path,
        "2026-06-30",
        "fix.csv",
        bad.clone().into(),
    )
    .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::CONFLICT, "confirm_replace"),
        "{}",
        a.text()
    );
    assert!(
        a.text().contains(&format!(
            "it keeps 1 of the {rows_before} rows its current version has"
        )),
        "{}",
        a.text()
    );
    // Confirmed, it becomes current, says what it replaced, and is an amendment, not late.
    let a = t
        .upload(
            ashford_path,
            Some(&ashford),
            None,
            &[
                ("collection", "ward-bed-census"),
                ("period", "2026-06-30"),
                ("replace", "true"),
            ],
            Some(("fix.csv", bad.as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let up = a.json();
    assert_eq!(up["status"], "amended");
    assert_eq!(up["rows_before"], rows_before);
    assert_eq!(
        (up["rows_accepted"].as_u64(), up["rows_rejected"].as_u64()),
        (Some(1), Some(1))
    );
    // The same file again stores nothing, and says so.
    let a = t
        .upload(
            ashford_path,
            Some(&ashford),
            None,
            &[
                ("collection", "ward-bed-census"),
                ("period", "2026-06-30"),
                ("replace", "true"),
            ],
            Some(("fix.csv", bad.as_bytes())),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["status"], "unchanged");
    assert_eq!(a.json()["rows_accepted"], 0);

    // The audit log says what each came to.
    let log = t.app.store().audit_log(100).await.unwrap();
    let outcomes: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action == "upload")
        .map(|e| (e.outcome.as_str(), e.detail.as_str()))
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|(o, d)| *o == "refused" && d.contains("confirming that it replaces")),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|(o, d)| *o == "done" && d.ends_with("unchanged")),
        "{outcomes:?}"
    );
    assert!(
        log.iter()
            .any(|e| e.action == "exception" && e.outcome == "done")
    );
}

fn census_or_homes(path: &str) -> String {
    if path.contains("/1-") {
        "care-home-capacity".into()
    } else {
        "ward-bed-census".into()
    }
}
