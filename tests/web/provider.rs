//! A provider's page before and after a collection is owed: what is overdue (with how
//! late), what is due this week and how it arrives, what is coming with its notice and
//! template, each period's runs gathered, and dry runs of a file on the page and the API
//! that keep nothing and record only a readiness check, which DAP sees.

use crate::common;

use axum::http::{Method, StatusCode};
use common::web::{TestApp, csrf_field, spawn_at};
use common::world::{CENSUS, census, utc};
use tally::domain::finding::Override;

/// 10 July 2026, 11:00 BST: census days from 1 July are overdue for RXA (nothing landed
/// since June), and the ward bed census's window for them is still open.
fn mid_july() -> Option<chrono::DateTime<chrono::Utc>> {
    Some(utc("2026-07-10T10:00:00Z"))
}

/// DAP lists the manual SitRep (pending in the test world) as of the app's clock, with the
/// default notice: it is coming for acute trusts.
async fn list_sitrep(t: &TestApp) {
    let now = t.app.now();
    let r = &t.world.registry;
    let pending = r
        .store()
        .versions("uec-sitrep-manual")
        .await
        .unwrap()
        .pop()
        .unwrap();
    let check = r.check(&pending.definition.0, now).await.unwrap();
    let overrides = check
        .blocking()
        .map(|f| Override {
            rule: f.rule,
            reason: "Listed for the test of a coming collection.".into(),
        })
        .collect();
    let l = r
        .approve("uec-sitrep-manual", common::dap(), "coming", overrides, now)
        .await
        .unwrap();
    assert_eq!(l.effective_from.to_string(), "2026-09-04");
}

fn census_day(day: &str) -> String {
    let day: chrono::NaiveDate = day.parse().unwrap();
    census("RXA", day)
}

#[tokio::test]
async fn a_provider_sees_overdue_due_and_coming_and_tries_a_file_that_is_not_kept() {
    let t = spawn_at(None, mid_july()).await;
    list_sitrep(&t).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();

    // Overdue first, with its deadline and how late; an upload, since Tally has no source
    // for RXA in this app's sources file.
    let overdue = html.find("<h2>Overdue</h2>").expect("an overdue section");
    let week = html.find("<h2>Due this week</h2>").expect("a week section");
    let coming = html.find("<h2>Coming</h2>").expect("a coming section");
    assert!(
        overdue < week && week < coming,
        "overdue, then the week, then coming"
    );
    let overdue_part = &html[overdue..week];
    assert!(overdue_part.contains("2026-07-01"), "{overdue_part}");
    // 1 July's census was due at noon on 2 July (BST): seven days and 23 hours before.
    assert!(
        overdue_part.contains("7 days 23 hours late"),
        "{overdue_part}"
    );
    assert!(
        overdue_part.contains("2 July 2026, 12:00 BST"),
        "{overdue_part}"
    );
    assert!(overdue_part.contains("Upload it below"), "{overdue_part}");
    // 9 July's is due at noon on 10 July, an hour away: this week's, not yet late.
    let week_part = &html[week..coming];
    assert!(week_part.contains("2026-07-09"), "{week_part}");
    assert!(week_part.contains("not delivered yet"), "{week_part}");
    assert!(!overdue_part.contains("2026-07-09"), "{overdue_part}");

    // Coming: what is asked, why, under which licence, from when, how often, by when.
    let coming_part = &html[coming..];
    for words in [
        "Urgent and emergency care daily situation report: beds (manual form)",
        "from 4 September 2026",
        "Nothing is owed before 4 September 2026",
        "Why it is asked",
        "What is asked",
        "/collections/uec-sitrep-manual/template/xlsx",
        "How to get ready",
    ] {
        assert!(coming_part.contains(words), "coming lacks {words:?}");
    }
    // And it is owed nowhere yet: not in the API's obligations, nor the upload's choices.
    let owed = t
        .api(
            Method::GET,
            "/api/v1/providers/RXA/obligations",
            Some(&t.tokens.provider),
            None,
        )
        .await
        .json();
    let slugs: Vec<&str> = owed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["collection"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["ward-bed-census"]);

    // Runs gathered by period, the newest first; no path on the server is shown.
    assert!(html.contains("Periods sent and tried"));
    assert!(!html.contains(&t.world.dir.path().display().to_string()));

    // A dry run of a good file on the page: it passes, and nothing is stored.
    let runs = t.runs().await;
    let lake = files_under(&t.world.dir.path().join("lake"));
    let csrf = csrf_field(&html);
    let tried = t
        .upload(
            "/providers/RXA/try",
            None,
            Some(&me),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("period", "2026-07-01"),
            ],
            Some(("day.csv", census_day("2026-07-01").as_bytes())),
        )
        .await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.text());
    let page = tried.text();
    assert!(
        page.contains("The file passes for ward-bed-census 2026-07-01"),
        "{page}"
    );
    assert!(
        page.contains("Nothing was kept and nothing was sent"),
        "{page}"
    );
    assert_eq!(t.runs().await, runs, "a dry run records no run");
    assert_eq!(files_under(&t.world.dir.path().join("lake")), lake);
    // A bad file: the report says why, and it is recorded as not passing.
    let bad = t
        .upload(
            "/providers/RXA/try",
            None,
            Some(&me),
            &[
                ("csrf", &csrf),
                ("collection", "uec-sitrep-manual"),
                ("period", "2026-07-01"),
            ],
            Some(("sitrep.csv", format!("{CENSUS}\n").as_bytes())),
        )
        .await;
    assert_eq!(bad.status, StatusCode::OK, "{}", bad.text());
    assert!(bad.text().contains("would not be taken"), "{}", bad.text());
    assert!(
        bad.text().contains("required columns are missing"),
        "{}",
        bad.text()
    );
    assert_eq!(t.runs().await, runs);

    // The API tries a file the same way; a token for another role may not.
    let api = t
        .upload(
            "/api/v1/providers/RXA/trials",
            Some(&t.tokens.provider),
            None,
            &[("collection", "ward-bed-census"), ("period", "2026-07-02")],
            Some(("day.csv", census_day("2026-07-02").as_bytes())),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text());
    assert_eq!(api.json()["passed"], true);
    assert_eq!(api.json()["tried"], "file");
    let refused = t
        .upload(
            "/api/v1/providers/RXA/trials",
            Some(&t.tokens.dhsc),
            None,
            &[("collection", "ward-bed-census"), ("period", "2026-07-02")],
            Some(("day.csv", census_day("2026-07-02").as_bytes())),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(t.runs().await, runs);
    // A file of a kind no upload takes is refused before it is read, and no readiness
    // check is recorded for it.
    let checks = t
        .app
        .store()
        .readiness("ward-bed-census", Some("RXA"))
        .await
        .unwrap()
        .len();
    let wrong = t
        .upload(
            "/api/v1/providers/RXA/trials",
            Some(&t.tokens.provider),
            None,
            &[("collection", "ward-bed-census"), ("period", "2026-07-02")],
            Some(("day.txt", census_day("2026-07-02").as_bytes())),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text()
    );
    assert!(
        wrong
            .text()
            .contains("upload a .csv, .xlsx, .xls or .ods file"),
        "{}",
        wrong.text()
    );
    assert_eq!(
        t.app
            .store()
            .readiness("ward-bed-census", Some("RXA"))
            .await
            .unwrap()
            .len(),
        checks
    );

    // A real upload of the coming collection is refused, saying from when it is owed.
    let early = t
        .upload(
            "/api/v1/providers/RXA/uploads",
            Some(&t.tokens.provider),
            None,
            &[
                ("collection", "uec-sitrep-manual"),
                ("period", "2026-07-01"),
            ],
            Some(("sitrep.csv", format!("{CENSUS}\n").as_bytes())),
        )
        .await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        early.text()
    );
    assert!(
        early.text().contains("owed from 4 September 2026"),
        "{}",
        early.text()
    );

    // DAP sees who is ready for the coming collection: RXA tried and has not passed yet.
    let dap = t.sign_in(&t.tokens.dap).await;
    let dap_page = t.page("/dap", Some(&dap)).await.text();
    assert!(dap_page.contains("Readiness for coming collections"));
    assert!(dap_page.contains("/dap/readiness/uec-sitrep-manual"));
    let ready = t.page("/dap/readiness/uec-sitrep-manual", Some(&dap)).await;
    assert_eq!(ready.status, StatusCode::OK);
    let ready = ready.text();
    assert!(ready.contains("Ashford Hospitals"), "{ready}");
    assert!(ready.contains("tried, not passing yet"), "{ready}");
    assert!(ready.contains("Bramley Health"), "{ready}");
    assert!(ready.contains("nothing tried"), "{ready}");
    // The provider may not see it.
    assert_eq!(
        t.page("/dap/readiness/uec-sitrep-manual", Some(&me))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// Every file under `dir`, as relative paths, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_provider_sets_whom_tally_e_mails_and_dap_reads_what_was_sent() {
    let t = spawn_at(None, mid_july()).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let html = t.page("/providers/RXA", Some(&me)).await.text();
    assert!(html.contains("Who Tally e-mails"));
    let csrf = csrf_field(&html);
    let bad = t
        .form(
            "/providers/RXA/contacts",
            Some(&me),
            &[
                ("csrf", &csrf),
                ("contacts", "returns@ashford.example.nhs.uk\nnot an address"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("not an address"), "{}", bad.text());
    assert!(
        bad.text().contains("is not an e-mail address"),
        "{}",
        bad.text()
    );
    assert!(
        t.app.store().contacts().await.unwrap().is_empty(),
        "nothing saved"
    );
    // More than ten addresses is a mailing list, not a returns team: refused, naming the limit.
    let many: String = (0..11)
        .map(|n| format!("person{n}@ashford.example.nhs.uk\n"))
        .collect();
    let crowd = t
        .form(
            "/providers/RXA/contacts",
            Some(&me),
            &[("csrf", &csrf), ("contacts", &many)],
        )
        .await;
    assert_eq!(crowd.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crowd.text().contains("more than the 10"),
        "{}",
        crowd.text()
    );
    assert!(t.app.store().contacts().await.unwrap().is_empty());
    let ok = t
        .form(
            "/providers/RXA/contacts",
            Some(&me),
            &[
                ("csrf", &csrf),
                (
                    "contacts",
                    "returns@ashford.example.nhs.uk\n\nlead@ashford.example.nhs.uk",
                ),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(
        t.app.store().contacts().await.unwrap(),
        [
            ("RXA".to_string(), "lead@ashford.example.nhs.uk".to_string()),
            (
                "RXA".to_string(),
                "returns@ashford.example.nhs.uk".to_string()
            ),
        ]
    );
    // Another provider's addresses are not this one's to set.
    let other = t
        .form(
            "/providers/RXB/contacts",
            Some(&me),
            &[("csrf", &csrf), ("contacts", "x@example.nhs.uk")],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

    // DAP reads the notifications record, which is empty until a mailer is set up.
    let dap = t.sign_in(&t.tokens.dap).await;
    let page = t.page("/dap/notifications", Some(&dap)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Nothing has been sent yet"));
    assert_eq!(
        t.page("/dap/notifications", Some(&me)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_provider_asks_dap_answers_and_the_answer_becomes_the_faq() {
    let t = spawn_at(None, mid_july()).await;
    list_sitrep(&t).await;
    let me = t.sign_in(&t.tokens.provider).await;
    let csrf = csrf_field(&t.page("/providers/RXA", Some(&me)).await.text());
    let ask = |collection: &'static str, question: &'static str| {
        let (t, me, csrf) = (&t, &me, &csrf);
        async move {
            t.form(
                "/providers/RXA/questions",
                Some(me),
                &[
                    ("csrf", csrf),
                    ("collection", collection),
                    ("question", question),
                ],
            )
            .await
        }
    };
    // About a coming collection: taken, and shown on its page as not answered yet.
    let a = ask(
        "uec-sitrep-manual",
        "Do escalation beds count as open when they are staffed for part of the day?",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.text().contains("is with DAP"), "{}", a.text());
    assert!(a.text().contains("Not answered yet"));
    // Not about a collection it owes (care homes only), nor empty: refused in words.
    let no = ask("care-home-capacity", "How are respite beds counted here?").await;
    assert_eq!(no.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no.text()
            .contains("ask about a collection you owe or that is coming")
    );
    let empty = ask("ward-bed-census", "   ").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A question past a page of text is refused, naming the limit, and nothing is kept.
    let long = "Why? ".repeat(900);
    let essay = t
        .form(
            "/providers/RXA/questions",
            Some(&me),
            &[
                ("csrf", &csrf),
                ("collection", "ward-bed-census"),
                ("question", &long),
            ],
        )
        .await;
    assert_eq!(essay.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        essay.text().contains("longer than 4000 characters"),
        "{}",
        essay.text()
    );
    assert_eq!(t.app.store().enquiries(None, None).await.unwrap().len(), 1);

    // DAP sees it waiting, with the count per collection, and answers it for publication.
    let dap = t.sign_in(&t.tokens.dap).await;
    let page = t.page("/dap", Some(&dap)).await.text();
    assert!(page.contains("Questions from providers"));
    assert!(page.contains("Do escalation beds count as open"), "{page}");
    let id = t.app.store().enquiries(None, None).await.unwrap()[0]
        .id
        .to_string();
    let dap_csrf = csrf_field(&page);
    let answered = t
        .form(
            "/dap/questions",
            Some(&dap),
            &[
                ("csrf", &dap_csrf),
                ("id", &id),
                (
                    "answer",
                    "Yes: count a bed as open for the day if it was staffed at midnight.",
                ),
                ("publish", "yes"),
            ],
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text());
    assert!(answered.text().contains("published as the collection"));
    assert!(
        answered
            .text()
            .contains("No question is waiting for an answer")
    );
    // Answered once only.
    let again = t
        .form(
            "/dap/questions",
            Some(&dap),
            &[
                ("csrf", &dap_csrf),
                ("id", &id),
                ("answer", "Something else entirely."),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // The provider reads the answer; the collection's page shows it, without who asked.
    let mine = t.page("/providers/RXA", Some(&me)).await.text();
    assert!(mine.contains("staffed at midnight"));
    let faq = t.page("/collections/uec-sitrep-manual", None).await.text();
    assert!(faq.contains("Questions providers asked"), "{faq}");
    assert!(faq.contains("staffed at midnight"));
    assert!(!faq.contains("Ashford"), "who asked is not published");
    // A manual form is never pulled, and its page does not say it is.
    assert!(
        faq.contains("Never: it is filled in by hand and uploaded"),
        "{faq}"
    );
    assert!(!faq.contains("The next pulls"), "{faq}");
    // A provider may not answer.
    let refused = t
        .form(
            "/dap/questions",
            Some(&me),
            &[
                ("csrf", &csrf),
                ("id", &id),
                ("answer", "I answer my own question."),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
