//! The pages: public ones open to all, the rest behind a session begun with a token; forms
//! guarded by a CSRF token and by the origin check; each role's main pages walked.

use crate::common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::web::{csrf_field, spawn, spawn_at};

#[tokio::test]
async fn public_pages_need_no_sign_in_and_the_rest_do() {
    let t = spawn(None).await;
    let register = t.page("/", None).await;
    assert_eq!(register.status, StatusCode::OK);
    let html = register.text();
    for words in [
        "Daily ward bed census",
        "DAP0001",
        "Hours a year",
        "Proposed, awaiting a decision",
    ] {
        assert!(html.contains(words), "the register lacks {words:?}");
    }
    let csp = register.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let c = t.page("/collections/ward-bed-census", None).await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(
        c.text().contains("occupied_beds") && c.text().contains("KH03"),
        "{}",
        c.text()
    );
    let p = t.page("/progress", None).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.text().contains("<svg role=\"img\"") && p.text().contains("The figures in the chart")
    );
    // The estimate beside what the periods owed this NHS year actually cost.
    let progress = p.text();
    let achieved = &progress[progress
        .find("<h2>Estimated and achieved since")
        .expect("the achieved section")..];
    assert!(
        achieved.contains("Periods owed since")
            && achieved.contains("<td>Daily ward bed census</td>"),
        "{achieved}"
    );
    assert!(
        achieved.contains("Rates made up for the tests") && achieved.contains("hours (£"),
        "priced at the settings' rates: {achieved}"
    );
    assert_eq!(
        t.page("/static/tally.css", None).await.status,
        StatusCode::OK
    );
    for path in ["/dap", "/returns", "/providers/RXA"] {
        let a = t.page(path, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(a.text().contains("Sign in"), "{path}");
    }
    for path in [
        "/collections/..%2F..%2Fetc%2Fpasswd",
        "/collections/nope'--",
        "/nowhere",
    ] {
        assert_eq!(
            t.page(path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(t.page(path, None).await.status, StatusCode::OK, "{path}");
    }
    assert!(
        t.page("/metrics", None)
            .await
            .text()
            .contains("tally_http_request_duration_seconds")
    );
}

#[tokio::test]
async fn dap_signs_in_and_decides_with_a_csrf_guarded_form() {
    let t = spawn(None).await;
    let dap = t.sign_in(&t.tokens.dap).await;
    let page = t.page("/dap", Some(&dap)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("uec-sitrep-manual") && html.contains("derivable"),
        "{html}"
    );
    let csrf = csrf_field(&html);
    let decide = |csrf: String| {
        let t = &t;
        let dap = dap.clone();
        async move {
            t.form(
                "/dap/decisions",
                Some(&dap),
                &[
                    ("csrf", &csrf),
                    ("slug", "uec-sitrep-manual"),
                    ("action", "reject"),
                    (
                        "reason",
                        "Derivable from the census <script>alert(1)</script>",
                    ),
                    // As the confirm page sends it (dap_pages.rs walks that step).
                    ("confirmed", "yes"),
                ],
            )
            .await
        }
    };
    // Forged and missing CSRF tokens are refused, and nothing is decided.
    assert_eq!(decide("0".repeat(64)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(decide(String::new()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.world
            .registry
            .store()
            .collection("uec-sitrep-manual")
            .await
            .unwrap()
            .unwrap()
            .status,
        "proposed"
    );
    // A form posted from another site is refused by the origin check.
    let cross = t
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/dap/decisions")
                .header(header::COOKIE, &dap)
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf={csrf}&slug=uec-sitrep-manual&action=reject&reason=x"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let done = decide(csrf).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(
        done.text().contains("uec-sitrep-manual is now rejected"),
        "{}",
        done.text()
    );
    // The reason is published as text, never as markup.
    let public = t.page("/", None).await.text();
    assert!(
        public.contains("&#60;script&#62;") && !public.contains("<script>alert"),
        "{public}"
    );
    // DAP reads the returns; it has no provider page of its own to upload to.
    assert_eq!(t.page("/returns", Some(&dap)).await.status, StatusCode::OK);
    // Signing out ends the session.
    let out = t
        .form(
            "/sign-out",
            Some(&dap),
            &[(
                "csrf",
                &csrf_field(&t.page("/dap", Some(&dap)).await.text()),
            )],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.page("/dap", Some(&dap)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_provider_sees_its_own_page_uploads_by_hand_and_nothing_else() {
    // Early July 2026, when the census days it uploads are inside their window.
    let t = spawn_at(None, Some(common::world::utc("2026-07-10T10:00:00Z"))).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let page = t.page("/providers/RXA", Some(&me)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for words in [
        "Ashford Hospitals",
        "Periods sent and tried",
        "Upload a period, or try a file first",
        "<svg role=\"img\"",
        "Hours saved by pulling",
    ] {
        assert!(html.contains(words), "the provider page lacks {words:?}");
    }
    for path in ["/providers/RXB", "/returns", "/dap"] {
        assert_eq!(
            t.page(path, Some(&me)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let csv = format!(
        "{}\n{}",
        common::world::CENSUS,
        common::world::census("RXA", chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap())
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let runs = t.runs().await;
    // A forged CSRF token: refused, nothing stored.
    let forged = t
        .upload(
            "/providers/RXA/upload",
            None,
            Some(&me),
            &[
                ("csrf", &"a".repeat(64)),
                ("collection", "ward-bed-census"),
                ("period", "2026-07-01"),
            ],
            Some(("day.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(t.runs().await, runs);
    let csrf = csrf_field(&html);
    let ok = t
        .upload(
            "/providers/RXA/upload",
            None,
            Some(&me),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("period", "2026-07-01"),
            ],
            Some(("day.csv", csv.as_bytes())),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert!(ok.text().contains("2026-07-01 was"), "{}", ok.text());
    assert_eq!(t.runs().await, runs + 1);
    let metrics = t.page("/metrics", None).await.text();
    assert!(
        metrics.contains("tally_runs_total") && metrics.contains("tally_pull_duration_seconds"),
        "{metrics}"
    );
    // Revoking the token ends the session at once.
    let id = t.tokens.provider.split('_').nth(1).unwrap();
    t.app
        .store()
        .revoke_token(id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        t.page("/providers/RXA", Some(&me)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn dhsc_downloads_returns_from_the_page_and_bad_sign_ins_are_refused() {
    let t = spawn(None).await;
    let dhsc = t.sign_in(&t.tokens.dhsc).await;
    let page = t.page("/returns", Some(&dhsc)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text()
            .contains("/returns/kh03-quarterly/2026-27-Q1/download?format=xlsx"),
        "{}",
        page.text()
    );
    let file = t
        .page(
            "/returns/kh03-quarterly/2026-27-Q1/download?format=sdmx-csv",
            Some(&dhsc),
        )
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(file.text().starts_with("STRUCTURE,"));
    // What goes with the data, from the page too: the structure that SDMX-CSV refers to, and
    // each period's manifest and CSVW metadata, to which the CSV download links.
    for (link, starts) in [
        ("/returns/kh03-quarterly/structure", "<?xml"),
        ("/returns/kh03-quarterly/2026-27-Q1/manifest", "{"),
        ("/returns/kh03-quarterly/2026-27-Q1/metadata", "{"),
    ] {
        assert!(page.text().contains(&format!("href=\"{link}\"")), "{link}");
        let a = t.page(link, Some(&dhsc)).await;
        assert_eq!(a.status, StatusCode::OK, "{link}");
        assert!(a.text().starts_with(starts), "{link}: {}", a.text());
    }
    let csv = t
        .page(
            "/returns/kh03-quarterly/2026-27-Q1/download?format=csv",
            Some(&dhsc),
        )
        .await;
    assert_eq!(
        csv.headers["link"],
        "<metadata?version=1>; rel=\"describedby\"; type=\"application/csvm+json\""
    );
    assert_eq!(
        t.page("/dap", Some(&dhsc)).await.status,
        StatusCode::FORBIDDEN
    );
    // A wrong token, a revoked one and a form without its sign-in cookie are all refused.
    let form = t.page("/sign-in", None).await;
    let nonce = common::web::cookie_value(&form.headers, tally::web::auth::SIGN_IN_COOKIE).unwrap();
    let jar = format!("{}={nonce}", tally::web::auth::SIGN_IN_COOKIE);
    for (token, cookie, status) in [
        ("tly_nonsense", Some(jar.as_str()), StatusCode::UNAUTHORIZED),
        (
            t.tokens.revoked.as_str(),
            Some(jar.as_str()),
            StatusCode::UNAUTHORIZED,
        ),
        (t.tokens.dhsc.as_str(), None, StatusCode::FORBIDDEN),
    ] {
        let a = t
            .form("/sign-in", cookie, &[("token", token), ("csrf", &nonce)])
            .await;
        assert_eq!(a.status, status, "{}", a.text());
        assert!(common::web::cookie_value(&a.headers, tally::web::auth::SESSION_COOKIE).is_none());
    }
    let log = t.app.store().audit_log(100).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "sign_in" && e.outcome == "refused")
            .count(),
        2
    );
    assert!(
        log.iter()
            .any(|e| e.action == "download" && e.actor == "DHSC analyst")
    );
}

/// Every page for every role: what each may open, and what it gets instead.
#[tokio::test]
async fn each_role_opens_exactly_its_pages() {
    let t = spawn(None).await;
    use StatusCode as S;
    let (ok, unauth, forbid) = (S::OK, S::UNAUTHORIZED, S::FORBIDDEN);
    let pages = [
        "/",
        "/progress",
        "/collections/ward-bed-census",
        "/dap",
        "/returns",
        "/providers/RXA",
        "/providers/RXB",
        "/returns/kh03-quarterly/2026-27-Q1/download?format=csv",
        // Who may download first, then the address: with no format, a visitor who is not
        // signed in is sent to sign in and a provider is refused.
        "/returns/kh03-quarterly/2026-27-Q1/download",
        "/returns/kh03-quarterly/2026-27-Q1/download?format=csv&version=first",
        "/sign-in",
        "/static/tally.css",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    let cookies = t.cookies().await;
    let bad = S::BAD_REQUEST;
    let public = [ok, ok, ok, ok, ok];
    let (none, provider) = (
        [
            ok, ok, ok, unauth, unauth, unauth, unauth, unauth, unauth, unauth,
        ],
        [
            ok, ok, ok, forbid, forbid, ok, forbid, forbid, forbid, forbid,
        ],
    );
    let expected = [
        ("none", none),
        ("dap", [ok, ok, ok, ok, ok, ok, ok, ok, bad, bad]),
        ("provider", provider),
        (
            "dhsc",
            [ok, ok, ok, forbid, ok, forbid, forbid, ok, bad, bad],
        ),
        ("admin", [ok, ok, ok, forbid, ok, ok, ok, ok, bad, bad]),
    ]
    .map(|(role, s)| (role, [s.as_slice(), &public].concat()));
    assert!(expected.iter().all(|(_, s)| s.len() == pages.len()));
    let mut wrong = Vec::new();
    for ((role, statuses), cookie) in expected.iter().zip(&cookies) {
        for (page, status) in pages.iter().zip(statuses) {
            let a = t.page(page, cookie.as_deref()).await;
            if a.status != *status {
                wrong.push(format!(
                    "{page} as {role}: {} (expected {status})",
                    a.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The forms that change something refuse every role but their own before they read what
/// was sent: a form that is not whole is refused as such only to the role that may send it.
#[tokio::test]
async fn each_role_posts_exactly_its_forms() {
    let t = spawn(None).await;
    use StatusCode as S;
    let (unauth, forbid) = (S::UNAUTHORIZED, S::FORBIDDEN);
    let cookies = t.cookies().await;
    let roles = ["none", "dap", "provider", "dhsc", "admin"];
    let cases: [(&str, [StatusCode; 5]); 3] = [
        (
            "/dap/decisions",
            [unauth, S::UNPROCESSABLE_ENTITY, forbid, forbid, forbid],
        ),
        // Not a multipart form: refused as such only to the provider itself.
        (
            "/providers/RXA/upload",
            [unauth, forbid, S::BAD_REQUEST, forbid, forbid],
        ),
        (
            "/providers/RXB/upload",
            [unauth, forbid, forbid, forbid, forbid],
        ),
    ];
    let mut wrong = Vec::new();
    for (path, expected) in cases {
        for ((role, cookie), status) in roles.iter().zip(&cookies).zip(expected) {
            let a = t.form(path, cookie.as_deref(), &[("reason", "x")]).await;
            if a.status != status {
                wrong.push(format!(
                    "{path} as {role}: {} (expected {status})",
                    a.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every refusal of a signed-in visitor is in the audit log.
    let log = t.app.store().audit_log(1000).await.unwrap();
    for (action, refusals) in [("decide", 3), ("upload", 7)] {
        let n = log
            .iter()
            .filter(|e| e.action == action && e.outcome == "refused")
            .count();
        assert_eq!(n, refusals, "{action} refusals in the audit log");
    }
}

/// Sign-ins are limited per address: after a burst, the form answers 429 and nothing more
/// reaches the audit log until the limit refills.
#[tokio::test]
async fn a_flood_of_sign_ins_is_slowed_and_does_not_fill_the_audit_log() {
    let t = spawn(None).await;
    let form = t.page("/sign-in", None).await;
    let nonce = common::web::cookie_value(&form.headers, tally::web::auth::SIGN_IN_COOKIE).unwrap();
    let jar = format!("{}={nonce}", tally::web::auth::SIGN_IN_COOKIE);
    let burst = tally::web::limit::SIGN_IN_BURST as usize;
    let fields = [("token", "tly_guess"), ("csrf", nonce.as_str())];
    let guess = || t.form("/sign-in", Some(&jar), &fields);
    let mut statuses = Vec::new();
    for _ in 0..burst + 5 {
        statuses.push(guess().await.status);
    }
    assert!(
        statuses[..burst]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[burst..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The page for a refusal is still the service's own, not the limiter's plain text.
    let a = guess().await;
    assert!(a.text().contains("<html"), "{}", a.text());
    let log = t.app.store().audit_log(1000).await.unwrap();
    let refused = log
        .iter()
        .filter(|e| e.action == "sign_in" && e.outcome == "refused")
        .count();
    assert_eq!(refused, burst);
    // Reading pages is not limited.
    for _ in 0..30 {
        assert_eq!(t.page("/", None).await.status, StatusCode::OK);
    }
}

/// A revised period shows on DHSC's page as revised, with why each version was made, the
/// cells it changed, and every version's downloads.
#[tokio::test]
async fn a_revised_period_says_why_and_offers_every_version() {
    let t = spawn(None).await;
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
    let corrected = common::world::census("RXB", day).replace(",30,27", ",30,29");
    t.world
        .land("ward-bed-census", "RXB", "2026-04-10", &corrected, true)
        .await;
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let dhsc = t.sign_in(&t.tokens.dhsc).await;
    let page = t.page("/returns", Some(&dhsc)).await;
    let text = page.text();
    assert!(text.contains("Revised: 2 versions of 2026-04-10"), "{text}");
    assert!(
        text.contains("RXB&#39;s ward-bed-census for 2026-04-10: version 1 amended by version 2")
            || text
                .contains("RXB's ward-bed-census for 2026-04-10: version 1 amended by version 2"),
        "{text}"
    );
    assert!(
        text.contains("ga_adult_core_occupied (level=trust, region=London, code=RXB): 27 → 29"),
        "{text}"
    );
    let first = "/returns/uec-daily-sitrep/2026-04-10/download?format=csv&amp;version=1";
    assert!(text.contains(first), "{text}");
    let a = t.page(&first.replace("&amp;", "&"), Some(&dhsc)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("uec-daily-sitrep-2026-04-10-v1.csv")
    );
}
