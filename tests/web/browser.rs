//! The pages in a real browser: Debian's headless Chromium, driven by playwright-core from
//! npm (`tests/browser/walk.mjs`), signs in as each role, walks the main pages, submits a
//! decision and an upload, downloads a return, saves screenshots, and runs axe-core on every
//! page. Needs `chromium` and `npm ci` in `tests/browser`; `.ci/run` installs both. Without
//! them the test is skipped with a notice, unless `CI` is set.

use crate::common;

use std::path::PathBuf;

use chrono::NaiveDate;
use common::repo;
use common::web::spawn_at;

fn chromium() -> PathBuf {
    std::env::var_os("TALLY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing for the browser tests, if anything.
fn missing() -> Option<String> {
    if !chromium().is_file() {
        return Some(format!(
            "no Chromium at {} (apt-get install chromium, or set TALLY_CHROMIUM)",
            chromium().display()
        ));
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("no node on the PATH".into());
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return Some("tests/browser has no node_modules (run npm ci there)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_walks_the_pages_in_chromium_with_no_serious_accessibility_violations() {
    if let Some(why) = missing() {
        if std::env::var_os("CI").is_some() {
            panic!("the browser tests need {why}");
        }
        eprintln!("Skipping the browser tests: {why}.");
        return;
    }
    // Early July 2026, when the day it uploads is inside its window.
    let t = spawn_at(None, Some(common::world::utc("2026-07-10T10:00:00Z"))).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = t.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // The day after it: a ward left at 0 occupied, held for the trust to confirm.
    let next = NaiveDate::from_ymd_opt(2026, 7, 2).unwrap();
    let slip = common::world::census("RXA", next).replace(",20,18", ",20,0");
    t.world
        .land("ward-bed-census", "RXA", "2026-07-02", &slip, false)
        .await;
    let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let upload = t.world.dir.path().join("rxa-2026-07-01.csv");
    std::fs::write(&upload, common::world::census("RXA", day)).unwrap();
    // Its correction: one figure changed.
    let correction = t.world.dir.path().join("rxa-2026-07-01-corrected.csv");
    let corrected = common::world::census("RXA", day).replacen(",20,18", ",20,17", 1);
    assert_ne!(corrected, common::world::census("RXA", day));
    std::fs::write(&correction, corrected).unwrap();
    let artifacts = std::env::var_os("TALLY_BROWSER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/browser/artifacts"));
    // Last run's screenshots go first, so that every one checked below is this run's.
    let _ = std::fs::remove_dir_all(&artifacts);
    // A changed return query waits for DAP, as a new file in the queries folder would.
    let store = t.app.store();
    let v1 = store
        .query_versions(Some("care-home-occupancy"))
        .await
        .unwrap()
        .remove(0);
    store
        .propose_query(
            "care-home-occupancy",
            &v1.sql_text.replace("SELECT", "SELECT /* v2 */"),
            &v1.sidecar,
            "changed",
            "the queries folder",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // A SitRep day revised by RXB's correction, as DHSC would find one.
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let fixed = common::world::census("RXB", NaiveDate::from_ymd_opt(2026, 4, 10).unwrap())
        .replace(",30,27", ",30,29");
    t.world
        .land("ward-bed-census", "RXB", "2026-04-10", &fixed, true)
        .await;
    t.world.build("uec-daily-sitrep", "2026-04-10").await;
    let tokens = serde_json::json!({
        "dap": t.tokens.dap, "provider": t.tokens.provider, "dhsc": t.tokens.dhsc,
        "ics": t.tokens.ics, "admin": t.tokens.admin,
    });
    let mut walk = std::process::Command::new("node");
    walk.arg("walk.mjs")
        .current_dir(repo().join("tests/browser"))
        .env("TALLY_BASE", &base)
        .env("TALLY_TOKENS", tokens.to_string())
        .env("TALLY_PROVIDER", "RXA")
        .env("TALLY_UPLOAD", &upload)
        .env("TALLY_UPLOAD_PERIOD", day.to_string())
        .env("TALLY_CORRECTION", &correction)
        .env(
            "TALLY_PROPOSAL",
            repo().join("collections/proposals/discharge-readiness-survey.toml"),
        )
        .env("TALLY_ARTIFACTS", &artifacts)
        .env("TALLY_CHROMIUM", chromium());
    // The server goes on answering on the runtime's other thread while this one waits.
    let walked = tokio::task::spawn_blocking(move || walk.output())
        .await
        .unwrap()
        .unwrap();
    server.abort();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&walked.stdout),
        String::from_utf8_lossy(&walked.stderr)
    );
    println!("{said}");
    assert!(walked.status.success(), "{said}");
    for shot in [
        "register",
        "collection",
        "progress",
        "register-phone",
        "dap",
        "dap-budget",
        "dap-propose",
        "dap-propose-checked",
        "dap-pending",
        "dap-refused",
        "dap-confirm",
        "dap-decided",
        "collection-suspended",
        "audit",
        "providers",
        "reporting",
        "admin-tokens",
        "refused-provider",
        "refused-dhsc",
        "provider",
        "provider-uploaded",
        "returns",
        "returns-revised",
        "returns-ics",
    ] {
        assert!(
            artifacts.join(format!("{shot}.png")).is_file(),
            "no screenshot of {shot}"
        );
    }
    // What the browser did is in the register and the ledger.
    assert_eq!(
        store
            .collection("uec-sitrep-manual")
            .await
            .unwrap()
            .unwrap()
            .status,
        "rejected"
    );
    let status = async |slug: &str| store.collection(slug).await.unwrap().unwrap().status;
    assert_eq!(status("discharge-readiness-survey").await, "listed");
    assert_eq!(status("care-home-capacity").await, "retired");
    assert_eq!(
        store.budget().await.unwrap().unwrap().cap_hours,
        Some(100.0)
    );
    let tokens = store.tokens().await.unwrap();
    let bramley = tokens
        .iter()
        .find(|t| t.name == "Bramley data lead")
        .unwrap();
    assert!(bramley.revoked_at.is_some());
    let log = store.audit_log(200).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "upload" && e.outcome == "done"),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|e| e.action == "download" && e.role == "dhsc")
    );
}
