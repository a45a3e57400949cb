//! Two `tally serve` processes on one PostgreSQL database and one lake, pulling a week of
//! the daily ward bed census for 60 trusts from one slow bed-management API on loopback.
//! One is killed with SIGKILL mid-way, with pulls in flight (the source holds its answers
//! for a moment, so that they are certainly in flight); the other takes over the runs
//! it held once their leases run out, and the rest of its work on its next step. At the end:
//! every (trust, day) landed exactly once, as version 1, read back with its rows; the source
//! was asked for each day once, except the few the dead instance was pulling; nothing is
//! left `running`; and a third instance that joins afterwards finds nothing to do.
//!
//! The week is the backlog a collection listed seven days ago has at once, not a week of
//! clock: each scheduler steps every second and holds its claims for three seconds
//! (`--step-seconds 1 --lease-seconds 3`), so that the take-over happens within the test.
//! Needs PostgreSQL: skipped with a notice when none answers, required when `CI` is set.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use chrono::{Duration as Days, NaiveDate, Utc};
use common::{TestDb, list_for_trusts, load, terminate};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use sqlx::{Connection, Row};

const TRUSTS: usize = 60;
const DAYS: i64 = 7;
const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

type Hits = Arc<Mutex<HashMap<(String, String), usize>>>;

/// What the source counts, and a switch that holds every answer while it is on, so that
/// the test can kill an instance with pulls certainly in flight.
#[derive(Clone, Default)]
struct Source {
    hits: Hits,
    hold: Arc<AtomicBool>,
}

/// The bed-management API: one ward's row for a trust and day, after 100 ms (longer while
/// held). It counts what it is asked for.
async fn source(state: Source) -> String {
    async fn beds(
        State(state): State<Source>,
        UrlPath((trust, day)): UrlPath<(String, String)>,
    ) -> String {
        let day = day.trim_end_matches(".csv").to_owned();
        *state
            .hits
            .lock()
            .unwrap()
            .entry((trust.clone(), day.clone()))
            .or_default() += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        while state.hold.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        format!("{HEADER}\n{day},{trust}01,W1,general_acute,overnight,adult,core,general,20,17\n")
    }
    let app = axum::Router::new()
        .route("/beds/{trust}/{day}", axum::routing::get(beds))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The (trust, day) keys due by now: each day from the day of listing is pulled from 09:00
/// (London) the next morning.
fn due(trusts: &[String], first: NaiveDate) -> BTreeSet<(String, String)> {
    let now = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .naive_local();
    let days: Vec<NaiveDate> = (0..=DAYS)
        .map(|d| first + Days::days(d))
        .filter(|d| (*d + Days::days(1)).and_hms_opt(9, 0, 0).unwrap() <= now)
        .collect();
    trusts
        .iter()
        .flat_map(|t| days.iter().map(move |d| (t.clone(), d.to_string())))
        .collect()
}

fn serve(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("--config")
        .arg(config)
        .args(["serve", "--bind", "127.0.0.1:0", "--concurrency", "4"])
        .args([
            "--per-host",
            "2",
            "--step-seconds",
            "1",
            "--lease-seconds",
            "3",
        ])
        .env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One row of the ledger, as the checks read it.
#[derive(Debug, Clone)]
struct Run {
    provider: String,
    period: String,
    attempt: i64,
    status: String,
    instance: String,
    error: Option<String>,
}

async fn runs(url: &str) -> Vec<Run> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT provider, period, attempt, status, instance, error FROM runs ORDER BY id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|r| Run {
            provider: r.get(0),
            period: r.get(1),
            attempt: r.get(2),
            status: r.get(3),
            instance: r.get::<Option<String>, _>(4).unwrap_or_default(),
            error: r.get(5),
        })
        .collect()
}

/// The instance name of a `tally serve` process: `serve-<host>-<pid>-<nonce>`.
fn of(child: &Child) -> impl Fn(&Run) -> bool {
    let pid = format!("-{}-", child.id());
    move |r: &Run| r.instance.starts_with("serve-") && r.instance.contains(&pid)
}

// Each instance is killed or stopped and waited for on every path that does not panic.
#[allow(clippy::zombie_processes)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_pull_a_week_once_and_one_takes_over_when_the_other_is_killed() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let registry = db.registry().await;
    let trusts: Vec<String> = (0..TRUSTS)
        .map(|n| format!("R{}{}", (b'A' + (n / 10) as u8) as char, n % 10))
        .collect();
    let listed = Utc::now() - Days::days(DAYS);
    list_for_trusts(
        &registry,
        dir.path(),
        &trusts,
        &load("ward-bed-census"),
        listed,
    )
    .await;
    let first = listed
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let due_at_start = due(&trusts, first);
    assert!(due_at_start.len() >= TRUSTS * (DAYS as usize - 1));

    let state = Source::default();
    let hits = state.hits.clone();
    let url = source(state.clone()).await;
    std::fs::write(
        dir.path().join("sources.toml"),
        format!(
            "[[source]]\ncollection = \"ward-bed-census\"\nprovider = \"*\"\nkind = \"http\"\n\
             url = \"{url}/beds/{{provider}}/{{period}}.csv\"\nformat = \"csv\"\n"
        ),
    )
    .unwrap();
    // Both share the database and the lake, as two containers would share a volume; no
    // queries folder, so neither builds returns.
    let config = dir.path().join("tally.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ndatabase_url = {:?}\nsources_file = {:?}\nqueries_dir = {:?}\n",
            dir.path().display().to_string(),
            db.url(),
            dir.path().join("sources.toml").display().to_string(),
            dir.path().join("no-queries").display().to_string(),
        ),
    )
    .unwrap();

    let mut a = serve(&config);
    let mut b = serve(&config);
    // Once A has landed a tenth of the week, the source holds its answers: A's pulls under
    // way cannot finish, so A is killed with runs certainly in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "A landed little in two minutes");
        let landed = runs(db.url())
            .await
            .iter()
            .filter(|r| of(&a)(r) && (r.status == "late" || r.status == "landed"))
            .count();
        if landed >= due_at_start.len() / 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.hold.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runs(db.url())
        .await
        .iter()
        .any(|r| of(&a)(r) && r.status == "running")
    {
        assert!(Instant::now() < deadline, "A has no pull in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Any claim A was making settles in its pull, which the source now holds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill().unwrap();
    a.wait().unwrap();
    // A commit A had sent before it died may still be applied; give its database sessions
    // a moment to end before reading what it held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held_at_kill: Vec<Run> = runs(db.url())
        .await
        .into_iter()
        .filter(|r| of(&a)(r) && r.status == "running")
        .collect();
    assert!(!held_at_kill.is_empty(), "A was killed with runs in flight");
    state.hold.store(false, Ordering::SeqCst);

    // B finishes the week alone.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = runs(db.url()).await;
        let landed: BTreeSet<(String, String)> = now
            .iter()
            .filter(|r| r.status == "late" || r.status == "landed")
            .map(|r| (r.provider.clone(), r.period.clone()))
            .collect();
        if landed.is_superset(&due_at_start) && !now.iter().any(|r| r.status == "running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B did not finish the week in two minutes: {} of {} landed",
            landed.len(),
            due_at_start.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    terminate(&mut b);
    let due_at_end = due(&trusts, first);

    let ledger = runs(db.url()).await;
    assert!(
        !ledger.iter().any(|r| r.status == "running"),
        "nothing is left running"
    );
    // Every due key landed exactly once.
    let mut landed: HashMap<(String, String), Vec<&Run>> = HashMap::new();
    for r in ledger
        .iter()
        .filter(|r| r.status == "late" || r.status == "landed")
    {
        landed
            .entry((r.provider.clone(), r.period.clone()))
            .or_default()
            .push(r);
    }
    let keys: BTreeSet<(String, String)> = landed.keys().cloned().collect();
    assert!(keys.is_superset(&due_at_start) && keys.is_subset(&due_at_end));
    for (key, runs) in &landed {
        assert_eq!(runs.len(), 1, "{key:?} landed {} times", runs.len());
    }
    // Every other run is one the dead instance held: let go when its lease ran out, and
    // landed by B at the next attempt. Nothing failed.
    let others: Vec<&Run> = ledger
        .iter()
        .filter(|r| r.status != "late" && r.status != "landed")
        .collect();
    assert_eq!(others.len(), held_at_kill.len(), "{others:?}");
    for held in &held_at_kill {
        let after = ledger
            .iter()
            .find(|r| r.provider == held.provider && r.period == held.period && r.attempt == 2)
            .unwrap_or_else(|| panic!("{held:?} was not taken over"));
        assert!(of(&b)(after), "{after:?} was taken over by B");
        let old = ledger
            .iter()
            .find(|r| r.provider == held.provider && r.period == held.period && r.attempt == 1)
            .unwrap();
        assert_eq!(old.status, "due");
        assert!(
            old.error
                .as_deref()
                .is_some_and(|e| e.contains("stopped renewing its lease")),
            "{old:?}"
        );
    }
    let (by_a, by_b) = (
        ledger.iter().filter(|r| of(&a)(r)).count(),
        ledger.iter().filter(|r| of(&b)(r)).count(),
    );
    assert_eq!(by_a + by_b, ledger.len());
    assert!(by_a > 0 && by_b > by_a, "A pulled {by_a}, B {by_b}");

    // The source was asked for each key once; the keys A held when it died, at most twice.
    {
        let hits = hits.lock().unwrap();
        for key in &keys {
            let n = hits.get(key).copied().unwrap_or_default();
            let held = held_at_kill
                .iter()
                .any(|r| (&r.provider, &r.period) == (&key.0, &key.1));
            assert!(
                n == 1 || (held && n == 2),
                "{key:?} was asked for {n} times"
            );
        }
        assert_eq!(hits.len(), keys.len(), "nothing else was asked for");
    }

    // One version of each key, numbered 1, its file whole with its one row.
    let mut pg = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let versions =
        sqlx::query("SELECT provider, period, version, path, rows_accepted FROM extract_versions")
            .fetch_all(&mut pg)
            .await
            .unwrap();
    pg.close().await.unwrap();
    assert_eq!(versions.len(), keys.len(), "one version a key");
    let mut seen = BTreeSet::new();
    for v in &versions {
        let key: (String, String) = (v.get(0), v.get(1));
        assert_eq!(v.get::<i64, _>(2), 1, "{key:?}");
        let path: String = v.get(3);
        let path = if Path::new(&path).is_absolute() {
            path.into()
        } else {
            dir.path().join("lake").join(&path)
        };
        let file = std::fs::File::open(&path).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 1);
        assert_eq!(v.get::<i64, _>(4), 1);
        assert!(seen.insert(key));
    }

    // A third instance joining afterwards finds nothing to do (but a day that fell due
    // meanwhile, if the test ran across 09:00).
    let asked = hits.lock().unwrap().values().sum::<usize>();
    let mut c = serve(&config);
    tokio::time::sleep(Duration::from_secs(4)).await;
    terminate(&mut c);
    let new = due(&trusts, first).len() - due_at_end.len();
    let asked_after = hits.lock().unwrap().values().sum::<usize>();
    assert!(asked_after >= asked && asked_after <= asked + new);
    assert!(runs(db.url()).await.len() <= ledger.len() + new);

    drop(registry);
    db.drop_database().await;
}
