//! Two `tally serve` schedulers on one PostgreSQL database, pulling from one HTTP source on
//! loopback: every due run is pulled exactly once between them, and neither ever has more
//! pulls under way against the one host than its per-host limit.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{TestDb, list_owed_at_once, load};
use tally::connectors::{ConnectorConfig, Source, Sources};
use tally::providers::read_csv;
use tally::service::Options;
use tally::store::runs::RunFilter;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

/// What the source saw: requests per path, and the most at once.
#[derive(Default)]
struct Seen {
    hits: Mutex<HashMap<String, usize>>,
    now: AtomicUsize,
    most: AtomicUsize,
}

/// A bed-management API on loopback: `/beds/<provider>/<day>.csv` gives one ward's row,
/// after a short pause so that pulls overlap.
async fn source(seen: Arc<Seen>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(request) = common::request_head(&mut stream).await else {
                    return;
                };
                let at_once = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(at_once, Ordering::SeqCst);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                *seen.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
                let day = path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(".csv");
                let body = format!(
                    "{HEADER}\n{day},RXA01,W1,general_acute,overnight,adult,core,general,20,18\n"
                );
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                seen.now.fetch_sub(1, Ordering::SeqCst);
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_database_pull_each_due_run_exactly_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let setup = db.registry().await;
    let at = utc("2026-11-01T09:00:00Z");
    setup
        .propose(&load("ward-bed-census"), "NHS England", at)
        .await
        .unwrap();
    list_owed_at_once(&setup, "ward-bed-census", at).await;
    let mut providers = String::from("code,name,kind,region\n");
    for n in 0..25 {
        providers.push_str(&format!(
            "R{}{},Trust {n},acute_trust,London\n",
            (b'A' + n / 10) as char,
            n % 10
        ));
    }
    let csv = dir.path().join("providers.csv");
    std::fs::write(&csv, providers).unwrap();
    setup
        .import_providers(&read_csv(&csv).unwrap(), crate::common::registered())
        .await
        .unwrap();

    let seen = Arc::new(Seen::default());
    let url = source(seen.clone()).await;
    let sources = Sources::of(
        vec![Source {
            collection: "ward-bed-census".into(),
            provider: "*".into(),
            connector: ConnectorConfig::Http(common::http_csv(
                format!("{url}/beds/{{provider}}/{{period}}.csv"),
                30,
            )),
        }],
        dir.path().to_path_buf(),
    );
    // Two instances, each with its own connection to the one database.
    let runner = |name: &'static str| async {
        common::runner(
            dir.path(),
            &db,
            Arc::new(db.registry().await),
            sources.clone(),
            Options {
                instance: name.into(),
                concurrency: 8,
                per_host: 1,
                pace: Default::default(),
            },
        )
    };
    let (one, two) = (runner("one").await, runner("two").await);
    // Listed on 1 November: at 10:00 on 10 November, 1 to 9 November are due for 25 trusts.
    let now = utc("2026-11-10T10:00:00Z");
    let (a, b) = tokio::join!(one.step(now), two.step(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    let pulled =
        |p: &Vec<tally::schedule::pull::Pulled>| p.iter().filter(|p| p.status != "skipped").count();
    assert!(
        pulled(&a) > 0 && pulled(&b) > 0,
        "both pulled: {} and {}",
        pulled(&a),
        pulled(&b)
    );
    assert_eq!(pulled(&a) + pulled(&b), 225);

    let runs = one
        .registry
        .store()
        .runs(&RunFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 225, "one run per due period");
    assert!(
        runs.iter()
            .all(|r| matches!(r.status.as_str(), "landed" | "late") && r.attempt == 1),
        "{:?}",
        runs.iter().map(|r| &r.status).collect::<Vec<_>>()
    );
    let hits = seen.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 225);
    assert!(
        hits.values().all(|&n| n == 1),
        "the source was asked for a run twice"
    );
    // Each scheduler keeps to one pull at a time against the host: two at most between them.
    assert!(
        seen.most.load(Ordering::SeqCst) <= 2,
        "most at once: {}",
        seen.most.load(Ordering::SeqCst)
    );

    // A later step by either finds nothing left to do.
    let again = two.step(now).await.unwrap();
    assert!(again.is_empty(), "{} pulled again", again.len());
    drop((one, two, setup));
    db.drop_database().await;
}
