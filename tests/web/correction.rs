//! A provider's own correction on its page: the file is checked and compared with the
//! period's current version, and nothing is sent until the provider confirms what it
//! changes; kept back, nothing is; held, it waits for its own provider only.

use crate::common;

use axum::http::StatusCode;
use common::web::{TestApp, csrf_field, spawn_at};
use common::world::{census, utc};

const DAY: &str = "2026-07-01";

async fn upload(t: &TestApp, me: &str, csrf: &str, csv: &str) -> common::web::Answer {
    t.upload(
        "/providers/RXA/upload",
        None,
        Some(me),
        &[
            ("csrf", csrf),
            ("collection", "ward-bed-census"),
            ("period", DAY),
        ],
        Some(("day.csv", csv.as_bytes())),
    )
    .await
}

/// The token of the correction held on a confirmation page.
fn held(html: &str) -> String {
    let at = html
        .find("name=\"held\" value=\"")
        .expect("a held correction")
        + 19;
    html[at..at + 32].to_owned()
}

fn held_files(t: &TestApp) -> usize {
    std::fs::read_dir(t.world.dir.path().join("uploads/held"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_correction_shows_what_it_changes_and_is_sent_only_once_confirmed() {
    let t = spawn_at(None, Some(utc("2026-07-10T10:00:00Z"))).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let csrf = csrf_field(&t.page("/providers/RXA", Some(&me)).await.text());
    let day = DAY.parse().unwrap();
    let first = census("RXA", day);
    let rows = first.lines().count() - 1;
    assert!(rows >= 3, "{first}");
    // The first delivery lands at once: there is nothing to replace.
    let a = upload(&t, &me, &csrf, &first).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains(&format!("{DAY} was late as version 1")),
        "{}",
        a.text()
    );
    let runs = t.runs().await;

    // The same file again would change nothing, and is not held.
    let a = upload(&t, &me, &csrf, &first).await;
    assert!(
        a.text().contains("the same file as version 1"),
        "{}",
        a.text()
    );
    assert_eq!((t.runs().await, held_files(&t)), (runs, 0));

    // One figure changed, the last ward gone, a new ward: the page counts each, and sends
    // nothing.
    let mut lines: Vec<String> = first.lines().map(str::to_owned).collect();
    lines.pop();
    lines[1] = lines[1].replacen(",20,18", ",20,17", 1);
    lines.push(format!(
        "{DAY},RXA01,W9,general_acute,overnight,adult,core,general,6,5"
    ));
    let fix = lines.join("\n") + "\n";
    assert_ne!(lines[1], first.lines().nth(1).unwrap(), "a figure changed");
    let a = upload(&t, &me, &csrf, &fix).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let page = a.text();
    assert!(
        page.contains("Replace Daily ward bed census, 2026-07-01?"),
        "{page}"
    );
    let count = |label: &str| {
        let at = page
            .find(label)
            .unwrap_or_else(|| panic!("no {label}: {page}"));
        let cell = &page[at..];
        let n = cell.find("class=\"num\">").unwrap() + 12;
        cell[n..n + cell[n..].find('<').unwrap()].to_owned()
    };
    assert_eq!(count("New: not in version 1"), "1");
    assert_eq!(count("Changed: some figure differs"), "1");
    assert_eq!(count("Removed: in version 1"), "1");
    assert_eq!(count("The same as now"), (rows - 2).to_string());
    assert!(!page.contains("callout-warning"), "not drastic: {page}");
    assert_eq!(
        t.runs().await,
        runs,
        "nothing is sent before it is confirmed"
    );
    assert_eq!(held_files(&t), 2, "the file and its note");

    // Kept back: nothing is sent, and the file is gone.
    let token = held(&page);
    let answer = |token: &str, action: &str| {
        let fields = [
            ("csrf", csrf.clone()),
            ("held", token.to_owned()),
            ("action", action.to_owned()),
        ];
        let me = me.clone();
        let t = &t;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.form("/providers/RXA/corrections", Some(&me), &fields)
                .await
        }
    };
    let a = answer(&token, "cancel").await;
    assert!(a.text().contains("was not sent"), "{}", a.text());
    assert_eq!((t.runs().await, held_files(&t)), (runs, 0));
    // Once answered, it is no longer held.
    let a = answer(&token, "replace").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
    assert_eq!(t.runs().await, runs);

    // Confirmed: sent as version 2, an amendment.
    let token = held(&upload(&t, &me, &csrf, &fix).await.text());
    // Another provider cannot send it, nor can a token that is a path.
    let other = t.sign_in(&t.tokens.dap).await;
    let a = t
        .form(
            "/providers/RXB/corrections",
            Some(&other),
            &[("csrf", &csrf), ("held", &token), ("action", "replace")],
        )
        .await;
    assert_ne!(a.status, StatusCode::OK, "{}", a.text());
    let a = answer("../../../../etc/passwd", "replace").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
    let a = answer(&token, "replace").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains("was amended as version 2"),
        "{}",
        a.text()
    );
    assert_eq!((t.runs().await, held_files(&t)), (runs + 1, 0));

    // A file that keeps one row: the page warns before it is sent, and confirmed it is
    // current (the API would need `replace`).
    let one: String = first.lines().take(2).map(|l| format!("{l}\n")).collect();
    let page = upload(&t, &me, &csrf, &one).await.text();
    assert!(page.contains("callout-warning"), "{page}");
    assert!(
        page.contains(&format!("This file keeps 1 of the {rows} rows")),
        "{page}"
    );
    let a = answer(&held(&page), "replace").await;
    assert!(
        a.text().contains("was amended as version 3"),
        "{}",
        a.text()
    );

    // A version that lands while the provider decides (here through the API) is never
    // replaced unseen: the answer is refused, and nothing more is sent.
    let page = upload(&t, &me, &csrf, &fix).await.text();
    let token = held(&page);
    let meanwhile = t
        .upload(
            "/api/v1/providers/RXA/uploads",
            Some(&t.tokens.provider),
            None,
            &[("collection", "ward-bed-census"), ("period", DAY)],
            Some(("api.csv", first.as_bytes())),
        )
        .await;
    assert_eq!(
        meanwhile.status,
        StatusCode::CREATED,
        "{}",
        meanwhile.text()
    );
    let runs_now = t.runs().await;
    let a = answer(&token, "replace").await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    assert!(
        a.text().contains("version 4 has landed since"),
        "{}",
        a.text()
    );
    assert_eq!((t.runs().await, held_files(&t)), (runs_now, 0));

    // A file that would not be taken is not held, and says why.
    let a = upload(&t, &me, &csrf, "ward,beds\nW1,3\n").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(a.text().contains("would not be taken"), "{}", a.text());
    assert!(a.text().contains("Version 4 stays current"), "{}", a.text());
    assert_eq!(held_files(&t), 0);
    assert_eq!(t.runs().await, runs + 3);
    // What the page settled without a run is in the audit log.
    let audit = t.app.store().audit_log(100).await.unwrap();
    let said = |what: &str| {
        audit
            .iter()
            .any(|e| e.action == "upload" && e.detail.contains(what))
    };
    assert!(said("kept back by the provider"), "{audit:?}");
    assert!(said("would not be taken"), "{audit:?}");
}
