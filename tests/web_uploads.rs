//! Uploads through the API: landed by the same path as a pulled extract, and every kind of
//! bad upload refused, audited and not stored.

mod common;

use axum::http::{Method, StatusCode};
use common::web::spawn;

const CARE_HOMES: &str = common::world::HOMES;

fn homes_csv(capacity: u32) -> String {
    format!("{CARE_HOMES}\n2026-05-31,{capacity},30,1,2\n")
}

#[tokio::test]
async fn uploads_land_by_the_pull_path_and_bad_ones_are_refused_with_nothing_stored() {
    let t = spawn(Some(64 * 1024)).await;
    let path = "/api/v1/providers/1-101/uploads";
    // A provider token for RXA cannot upload for a care home.
    let a = t
        .upload(
            path,
            Some(&t.tokens.provider),
            None,
            &[("collection", "care-home-capacity"), ("period", "2026-05")],
            Some(("may.csv", homes_csv(40).as_bytes())),
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
            Some(("may.csv", homes_csv(40).as_bytes())),
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
    assert!(
        tally::registry::provider_burden::by_hand(&run),
        "an upload is recorded as by hand"
    );

    let refused: Vec<(
        &str,
        Vec<(&str, &str)>,
        Option<(&str, Vec<u8>)>,
        StatusCode,
        &str,
    )> = vec![
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
            Some(("june.csv", homes_csv(40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_licensed",
        ),
        (
            "unknown collection",
            vec![
                ("collection", "'; DROP TABLE runs; --"),
                ("period", "2026-06"),
            ],
            Some(("june.csv", homes_csv(40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_licensed",
        ),
        (
            "bad period",
            vec![
                ("collection", "care-home-capacity"),
                ("period", "../../etc"),
            ],
            Some(("june.csv", homes_csv(40).into_bytes())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "period not over",
            vec![("collection", "care-home-capacity"), ("period", "2099-01")],
            Some(("jan.csv", homes_csv(40).into_bytes())),
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
            Some(("june.csv", homes_csv(40).into_bytes())),
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
            Some(("../../../../etc/june.csv", homes_csv(41).as_bytes())),
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
