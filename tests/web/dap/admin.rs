//! Admin's tokens, and what providers and DHSC are refused.

use super::{post, proposal};
use crate::common;

use axum::http::{StatusCode, header};
use common::web::{csrf_field, spawn};

#[tokio::test]
async fn admin_issues_revokes_and_bulk_issues_tokens_each_shown_once() {
    let t = spawn(None).await;
    let admin = t.sign_in(&t.tokens.admin).await;
    let issued = post(
        &t,
        "/admin/tokens",
        "/admin/tokens",
        &admin,
        &[
            ("name", "Bramley data lead"),
            ("role", "provider"),
            ("providers", "rxb"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text());
    assert_eq!(issued.headers[header::CACHE_CONTROL], "no-store");
    let html = issued.text();
    let at = html.find("id=\"issued-token\">").unwrap() + 18;
    let token = html[at..].split('<').next().unwrap().to_owned();
    assert!(token.starts_with("tly_"), "{token}");
    // It works, and the list never shows it again.
    let bramley = t.sign_in(&token).await;
    assert_eq!(
        t.page("/providers/RXB", Some(&bramley)).await.status,
        StatusCode::OK
    );
    let list = t.page("/admin/tokens", Some(&admin)).await.text();
    assert!(list.contains("Bramley data lead") && !list.contains(&token));
    // A refused token keeps what was typed.
    let unknown = post(
        &t,
        "/admin/tokens",
        "/admin/tokens",
        &admin,
        &[
            ("name", "Nobody"),
            ("role", "provider"),
            ("providers", "ZZZ9"),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.text().contains("no provider ZZZ9") && unknown.text().contains("value=\"Nobody\""),
        "{}",
        unknown.text()
    );

    // Revoking is asked twice, then the holder is signed out.
    let id = t
        .app
        .store()
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "Bramley data lead")
        .unwrap()
        .id;
    let ask = post(
        &t,
        "/admin/tokens",
        &format!("/admin/tokens/{id}/revoke"),
        &admin,
        &[],
    )
    .await;
    assert!(
        ask.text()
            .contains("Revoke the token for Bramley data lead?"),
        "{}",
        ask.text()
    );
    assert_eq!(
        t.page("/providers/RXB", Some(&bramley)).await.status,
        StatusCode::OK
    );
    let csrf = csrf_field(&ask.text());
    let revoked = t
        .form(
            &format!("/admin/tokens/{id}/revoke"),
            Some(&admin),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    assert_eq!(
        t.page("/providers/RXB", Some(&bramley)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // In bulk: one token a code, back as a CSV; an unknown code issues none.
    let before = t.app.store().tokens().await.unwrap().len();
    let csrf = csrf_field(&t.page("/admin/tokens", Some(&admin)).await.text());
    let bad = t
        .upload(
            "/admin/tokens/bulk",
            None,
            Some(&admin),
            &[("csrf", &csrf)],
            Some(("homes.csv", b"code\n1-101\nNOPE1\n")),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text()
            .contains("1 code in the file is not in the provider register")
            && bad.text().contains("NOPE1"),
        "{}",
        bad.text()
    );
    assert_eq!(t.app.store().tokens().await.unwrap().len(), before);
    let bulk = t
        .upload(
            "/admin/tokens/bulk",
            None,
            Some(&admin),
            &[("csrf", &csrf), ("days", "90")],
            Some(("homes.csv", b"code,name\n1-101,Oak House\n1-102,Elm Lodge\n1-101,Oak House\n1-203,Yew Gardens\n")),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.text());
    assert!(
        bulk.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"provider-tokens-")
    );
    let csv = bulk.text();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "code,provider,token_id,token,expires");
    assert_eq!(lines.len(), 4, "three codes, the repeat once: {csv}");
    let elm = lines
        .iter()
        .find(|l| l.starts_with("1-102,Elm Lodge,"))
        .unwrap();
    let elm_token = elm.split(',').nth(3).unwrap();
    let elm_session = t.sign_in(elm_token).await;
    assert_eq!(
        t.page("/providers/1-102", Some(&elm_session)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.page("/providers/1-101", Some(&elm_session)).await.status,
        StatusCode::FORBIDDEN
    );
    let audit = t
        .page("/audit?action=token_bulk_create", Some(&admin))
        .await
        .text();
    assert!(audit.contains("3 provider tokens"), "{audit}");
}

#[tokio::test]
async fn providers_and_dhsc_are_refused_daps_and_admins_pages_and_forms() {
    let t = spawn(None).await;
    let provider = t.sign_in(&t.tokens.provider).await;
    let dhsc = t.sign_in(&t.tokens.dhsc).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    for (who, name) in [(&provider, "provider"), (&dhsc, "dhsc")] {
        for path in [
            "/dap",
            "/dap/proposals/new",
            "/dap/budget",
            "/audit",
            "/admin/tokens",
        ] {
            assert_eq!(
                t.page(path, Some(who)).await.status,
                StatusCode::FORBIDDEN,
                "{name} {path}"
            );
        }
        // Their own session's CSRF token, so only the role stops them.
        let csrf = csrf_field(&t.page("/", Some(who)).await.text());
        for (path, fields) in [
            (
                "/dap/decisions",
                vec![
                    ("slug", "uec-sitrep-manual"),
                    ("action", "reject"),
                    ("reason", "x"),
                    ("confirmed", "yes"),
                ],
            ),
            ("/dap/renewals", vec![("slug", "ward-bed-census")]),
            (
                "/dap/returns",
                vec![
                    ("name", "kh03-quarterly"),
                    ("version", "1"),
                    ("action", "reject"),
                    ("reason", "x"),
                ],
            ),
            (
                "/dap/proposals/return",
                vec![
                    ("step", "propose"),
                    ("name", "x-return"),
                    ("sidecar", ""),
                    ("sql", ""),
                ],
            ),
            ("/dap/budget", vec![("cap", "1"), ("reason", "x")]),
            ("/progress/reports", vec![("as_of", "2026-11-01")]),
            (
                "/collections/ward-bed-census/decisions",
                vec![("action", "retire"), ("reason", "x"), ("confirmed", "yes")],
            ),
            ("/admin/tokens", vec![("name", "x"), ("role", "admin")]),
            ("/admin/tokens/abc/revoke", vec![("confirmed", "yes")]),
        ] {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields);
            assert_eq!(
                t.form(path, Some(who), &all).await.status,
                StatusCode::FORBIDDEN,
                "{name} {path}"
            );
        }
        let up = t
            .upload(
                "/dap/proposals/new",
                None,
                Some(who),
                &[
                    ("csrf", &csrf),
                    ("step", "propose"),
                    ("definition", &proposal("discharge-readiness-survey")),
                ],
                None,
            )
            .await;
        assert_eq!(up.status, StatusCode::FORBIDDEN, "{name} proposes");
    }
    assert!(
        t.app
            .store()
            .collection("discharge-readiness-survey")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.app
            .store()
            .collection("ward-bed-census")
            .await
            .unwrap()
            .unwrap()
            .status,
        "listed"
    );
    // DAP is not admin: tokens are refused to it too.
    assert_eq!(
        t.page("/admin/tokens", Some(&dap)).await.status,
        StatusCode::FORBIDDEN
    );
    // Each refusal is on the audit log.
    let refused = t
        .page("/audit?outcome=refused&who=DHSC", Some(&dap))
        .await
        .text();
    assert!(
        refused.contains("set_budget")
            && refused.contains("token_create")
            && refused.contains("file_report"),
        "{refused}"
    );
}

/// The pages' own forms are read under limits, and refuse past them naming the limit.
#[tokio::test]
async fn the_proposal_and_bulk_token_forms_refuse_input_past_their_limits() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let admin = t.sign_in(&t.tokens.admin).await;
    // A definition over 256 KiB, as a file: refused before it is read whole.
    let form = t.page("/dap/proposals/new", Some(&dap)).await.text();
    assert!(
        form.contains("<title>Propose a collection – Tally</title>"),
        "{form}"
    );
    let csrf = csrf_field(&form);
    let huge = format!(
        "{}\n# {}\n",
        proposal("discharge-readiness-survey"),
        "x".repeat(300 * 1024)
    );
    let big = t
        .upload(
            "/dap/proposals/new",
            None,
            Some(&dap),
            &[("csrf", &csrf), ("step", "check")],
            Some(("huge.toml", huge.as_bytes())),
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.text());
    assert!(
        big.text()
            .contains("the definition is larger than the limit of 256 KiB"),
        "{}",
        big.text()
    );
    // A file of codes over 1 MiB, and one of more codes than any region has homes.
    let csrf = csrf_field(&t.page("/admin/tokens", Some(&admin)).await.text());
    let before = t.app.store().tokens().await.unwrap().len();
    let wide = vec![b'A'; (1 << 20) + 1];
    let too_big = t
        .upload(
            "/admin/tokens/bulk",
            None,
            Some(&admin),
            &[("csrf", &csrf)],
            Some(("codes.csv", &wide)),
        )
        .await;
    assert_eq!(
        too_big.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_big.text()
    );
    assert!(
        too_big
            .text()
            .contains("the file of codes is larger than the limit of 1024 KiB"),
        "{}",
        too_big.text()
    );
    let many: String = (0..20_001).map(|n| format!("1-{n}\n")).collect();
    let too_many = t
        .upload(
            "/admin/tokens/bulk",
            None,
            Some(&admin),
            &[("csrf", &csrf)],
            Some(("codes.csv", many.as_bytes())),
        )
        .await;
    assert_eq!(
        too_many.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_many.text()
    );
    assert!(
        too_many.text().contains("more than 20000 provider codes"),
        "{}",
        too_many.text()
    );
    assert_eq!(
        t.app.store().tokens().await.unwrap().len(),
        before,
        "no token was issued"
    );
}
